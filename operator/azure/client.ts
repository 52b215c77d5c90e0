import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { ComputeManagementClient, type VirtualMachineScaleSet, type VirtualMachineScaleSetNetworkConfiguration, type VirtualMachineScaleSetVM } from '@azure/arm-compute';
import { NetworkManagementClient, type LoadBalancer, type NetworkInterface, type PublicIPPrefix } from '@azure/arm-network';
import type { TokenCredential } from '@azure/core-auth';
import type { TlsSettings } from '@azure/core-rest-pipeline';
import type { Registry } from '../../lib/metrics.ts';
import type { Logger } from '../../lib/log.ts';
import { KegError } from '../../lib/errors.ts';
import type { CloudConfig } from '../config.ts';
import { ArmCaller } from './call.ts';
import { createCredential } from './credential.ts';
import { isArmNotFound } from './errors.ts';
import { createArmMetrics } from './metrics.ts';
import { armRetryPolicy } from './policy.ts';

export type { LoadBalancer, NetworkInterface, PublicIPPrefix, VirtualMachineScaleSet, VirtualMachineScaleSetNetworkConfiguration, VirtualMachineScaleSetVM };

export interface AzureTuning {
  /** Bound of one call including retries and LRO polls. Default 10 min. */
  callTimeoutMs?: number;
  requestTimeoutMs?: number;
  maxRetries?: number;
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  maxRetryAfterMs?: number;
  /** LRO poll interval when ARM sends no Retry-After. Default 2 s. */
  pollIntervalMs?: number;
}

export interface AzureOptions extends AzureTuning {
  config: CloudConfig;
  registry: Registry;
  log: Logger;
  signal?: AbortSignal;
  /** For tests; default: the credential the config chose. */
  credential?: TokenCredential;
}

/** Everything the operator does in ARM, each call through ArmCaller. Reads return undefined on 404. */
export class Azure {
  readonly config: CloudConfig;
  private readonly network: NetworkManagementClient;
  private readonly compute: ComputeManagementClient;
  private readonly caller: ArmCaller;
  private readonly poll: { updateIntervalInMs: number };

  constructor(opts: AzureOptions) {
    const { config } = opts;
    this.config = config;
    const tls = readTls(config);
    const credential = opts.credential ?? createCredential(config, tls);
    const metrics = createArmMetrics(opts.registry);
    const clientOptions = {
      endpoint: config.resourceManagerEndpoint,
      credentials: { scopes: [`${config.resourceManagerEndpoint}/.default`] },
      retryOptions: { maxRetries: 0 },
      ...(tls ? { tlsOptions: tls } : {}),
      additionalPolicies: [{
        position: 'perCall' as const,
        policy: armRetryPolicy({
          metrics,
          maxRetries: opts.maxRetries ?? 6,
          baseDelayMs: opts.retryBaseDelayMs ?? 500,
          maxDelayMs: opts.retryMaxDelayMs ?? 30_000,
          requestTimeoutMs: opts.requestTimeoutMs ?? 60_000,
          maxRetryAfterMs: opts.maxRetryAfterMs ?? 120_000,
        }),
      }],
    };
    this.network = new NetworkManagementClient(credential, config.subscriptionId, clientOptions);
    this.compute = new ComputeManagementClient(credential, config.subscriptionId, clientOptions);
    this.caller = new ArmCaller({ log: opts.log, timeoutMs: opts.callTimeoutMs ?? 600_000, signal: opts.signal });
    this.poll = { updateIntervalInMs: opts.pollIntervalMs ?? 2_000 };
  }

  subnetId(): string {
    const c = this.config;
    return `/subscriptions/${c.subscriptionId}/resourceGroups/${c.vnetResourceGroup}/providers/Microsoft.Network/virtualNetworks/${c.vnetName}/subnets/${c.subnetName}`;
  }

  loadBalancerId(): string {
    const c = this.config;
    return `/subscriptions/${c.subscriptionId}/resourceGroups/${c.loadBalancerResourceGroup}/providers/Microsoft.Network/loadBalancers/${c.loadBalancerName}`;
  }

  prefixId(resourceGroup: string, name: string): string {
    return `/subscriptions/${this.config.subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Network/publicIPPrefixes/${name}`;
  }

  // ---------------------------------------------------------------- network

  getLoadBalancer(): Promise<LoadBalancer | undefined> {
    const c = this.config;
    return this.orUndefined(`GET loadBalancer ${c.loadBalancerName}`, (abortSignal) =>
      this.network.loadBalancers.get(c.loadBalancerResourceGroup, c.loadBalancerName, { abortSignal }));
  }

  putLoadBalancer(lb: LoadBalancer): Promise<LoadBalancer> {
    const c = this.config;
    return this.caller.call(`PUT loadBalancer ${c.loadBalancerName}`, async (abortSignal) =>
      this.network.loadBalancers.createOrUpdate(c.loadBalancerResourceGroup, c.loadBalancerName, lb, { abortSignal, ...this.poll }));
  }

  deleteLoadBalancer(): Promise<void> {
    const c = this.config;
    return this.ignoreNotFound(`DELETE loadBalancer ${c.loadBalancerName}`, async (abortSignal) =>
      this.network.loadBalancers.delete(c.loadBalancerResourceGroup, c.loadBalancerName, { abortSignal, ...this.poll }));
  }

  getPublicIpPrefix(resourceGroup: string, name: string): Promise<PublicIPPrefix | undefined> {
    return this.orUndefined(`GET publicIPPrefix ${name}`, (abortSignal) =>
      this.network.publicIPPrefixes.get(resourceGroup, name, { abortSignal }));
  }

  putPublicIpPrefix(resourceGroup: string, name: string, prefix: PublicIPPrefix): Promise<PublicIPPrefix> {
    return this.caller.call(`PUT publicIPPrefix ${name}`, async (abortSignal) =>
      this.network.publicIPPrefixes.createOrUpdate(resourceGroup, name, prefix, { abortSignal, ...this.poll }));
  }

  deletePublicIpPrefix(resourceGroup: string, name: string): Promise<void> {
    return this.ignoreNotFound(`DELETE publicIPPrefix ${name}`, async (abortSignal) =>
      this.network.publicIPPrefixes.delete(resourceGroup, name, { abortSignal, ...this.poll }));
  }

  listVmNics(resourceGroup: string, vmss: string, instanceId: string): Promise<NetworkInterface[]> {
    return this.caller.call(`LIST networkInterfaces ${vmss}/${instanceId}`, (abortSignal) =>
      collect(this.network.networkInterfaces.listVirtualMachineScaleSetVMNetworkInterfaces(resourceGroup, vmss, instanceId, { abortSignal })));
  }

  // ---------------------------------------------------------------- compute

  listVmss(resourceGroup: string): Promise<VirtualMachineScaleSet[]> {
    return this.caller.call(`LIST virtualMachineScaleSets ${resourceGroup}`, (abortSignal) =>
      collect(this.compute.virtualMachineScaleSets.list(resourceGroup, { abortSignal })));
  }

  getVmss(resourceGroup: string, name: string): Promise<VirtualMachineScaleSet | undefined> {
    return this.orUndefined(`GET virtualMachineScaleSet ${name}`, (abortSignal) =>
      this.compute.virtualMachineScaleSets.get(resourceGroup, name, { abortSignal }));
  }

  /** Writes the VMSS model's NIC configurations, guarded by the etag we read. */
  updateVmssNics(resourceGroup: string, name: string, nics: VirtualMachineScaleSetNetworkConfiguration[], etag: string | undefined): Promise<VirtualMachineScaleSet> {
    return this.caller.call(`PATCH virtualMachineScaleSet ${name}`, async (abortSignal) =>
      this.compute.virtualMachineScaleSets.update(resourceGroup, name, { virtualMachineProfile: { networkProfile: { networkInterfaceConfigurations: nics } } }, {
        abortSignal, ...this.poll, ...(etag ? { ifMatch: etag } : {}),
      }));
  }

  listVmssVms(resourceGroup: string, name: string): Promise<VirtualMachineScaleSetVM[]> {
    return this.caller.call(`LIST virtualMachineScaleSetVMs ${name}`, (abortSignal) =>
      collect(this.compute.virtualMachineScaleSetVMs.list(resourceGroup, name, { abortSignal })));
  }

  updateVmssVm(resourceGroup: string, name: string, vm: VirtualMachineScaleSetVM): Promise<VirtualMachineScaleSetVM> {
    const instanceId = vm.instanceId ?? '';
    return this.caller.call(`PUT virtualMachineScaleSetVM ${name}/${instanceId}`, async (abortSignal) =>
      this.compute.virtualMachineScaleSetVMs.update(resourceGroup, name, instanceId, vm, { abortSignal, ...this.poll }));
  }

  // ---------------------------------------------------------------- helpers

  private async orUndefined<T>(what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T | undefined> {
    try {
      return await this.caller.call(what, fn);
    } catch (err) {
      if (isArmNotFound(err)) return undefined;
      throw err;
    }
  }

  private async ignoreNotFound(what: string, fn: (signal: AbortSignal) => Promise<void>): Promise<void> {
    await this.orUndefined(what, fn);
  }
}

function readTls(config: CloudConfig): TlsSettings | undefined {
  if (!config.caCertFile) return undefined;
  try {
    // Added to, not instead of, the public roots: ARM and AAD may sit behind different CAs.
    return { ca: [...rootCertificates, readFileSync(config.caCertFile, 'utf8')] };
  } catch (err) {
    throw new KegError('CLOUD_CONFIG_INVALID', `cloud config caCertFile: cannot read ${config.caCertFile}: ${(err as Error).message}`, { cause: err });
  }
}

async function collect<T>(pages: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of pages) out.push(item);
  return out;
}
