import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { ComputeManagementClient, type VirtualMachine, type VirtualMachineScaleSet } from '@azure/arm-compute';
import { NetworkManagementClient, type LoadBalancer, type NetworkInterface, type PublicIPAddress, type PublicIPPrefix } from '@azure/arm-network';
import type { TokenCredential } from '@azure/core-auth';
import type { TlsSettings } from '@azure/core-rest-pipeline';
import type { Registry } from '../../lib/metrics.ts';
import type { Logger } from '../../lib/log.ts';
import { KegError } from '../../lib/errors.ts';
import type { CloudConfig } from '../config.ts';
import { ArmCaller } from './call.ts';
import { RawArm } from './raw.ts';
import { nicSchema, type NicJson } from './nic-json.ts';
import { parseArm, vmssNetworkSchema, vmssVmSchema, type NicConfigJson, type VmssNetwork, type VmssVmJson } from './vmss-json.ts';
import { createCredential } from './credential.ts';
import { isArmNotFound } from './errors.ts';
import { createArmMetrics } from './metrics.ts';
import { armRetryPolicy } from './policy.ts';

export type { LoadBalancer, NetworkInterface, PublicIPAddress, PublicIPPrefix, VirtualMachine, VirtualMachineScaleSet };
export type { NicConfigJson, NicJson, VmssNetwork, VmssVmJson };

/** The Network api-version of the raw NIC calls: the one our @azure/arm-network uses. */
export const NETWORK_API_VERSION = '2026-01-01';

/** The Compute api-version of the raw VMSS calls: the one our @azure/arm-compute uses. */
export const COMPUTE_API_VERSION = '2026-04-01';

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
  private readonly raw: RawArm;
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
    this.raw = new RawArm(this.compute.pipeline, config.resourceManagerEndpoint);
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

  /**
   * Writes the ILB guarded by the etag it was read with (If-None-Match: * for
   * a new one): a concurrent writer makes this fail with 412 instead of
   * having its rules overwritten.
   */
  putLoadBalancer(lb: LoadBalancer): Promise<LoadBalancer> {
    const c = this.config;
    const headers: Record<string, string> = lb.etag ? { 'if-match': lb.etag } : { 'if-none-match': '*' };
    return this.caller.call(`PUT loadBalancer ${c.loadBalancerName}`, async (abortSignal) =>
      this.network.loadBalancers.createOrUpdate(c.loadBalancerResourceGroup, c.loadBalancerName, lb, { abortSignal, ...this.poll, requestOptions: { headers } }));
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

  // ------------------------------------------ node pools of type VirtualMachines

  private nicPath(resourceGroup: string, name = ''): string {
    return `/subscriptions/${this.config.subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Network/networkInterfaces${name ? `/${name}` : ''}`;
  }

  listVms(resourceGroup: string): Promise<VirtualMachine[]> {
    return this.caller.call(`LIST virtualMachines ${resourceGroup}`, (abortSignal) =>
      collect(this.compute.virtualMachines.list(resourceGroup, { abortSignal })));
  }

  /** The resource group's NICs as ARM's JSON, every field kept. */
  listNics(resourceGroup: string): Promise<NicJson[]> {
    return this.caller.call(`LIST networkInterfaces ${resourceGroup}`, async (abortSignal) => {
      const raw = await this.raw.list(this.nicPath(resourceGroup), NETWORK_API_VERSION, { abortSignal, pollIntervalMs: 0 });
      return raw.map((nic) => parseArm(nicSchema, `LIST networkInterfaces ${resourceGroup}`, nic));
    });
  }

  async getNic(resourceGroup: string, name: string): Promise<NicJson | undefined> {
    const raw = await this.orUndefined(`GET networkInterface ${name}`, (abortSignal) =>
      this.raw.get(this.nicPath(resourceGroup, name), NETWORK_API_VERSION, { abortSignal, pollIntervalMs: 0 }));
    return raw === undefined ? undefined : parseArm(nicSchema, `GET networkInterface ${name}`, raw);
  }

  /** Writes a NIC back whole, as read but for its ipConfigurations, guarded by its etag. */
  putNic(resourceGroup: string, nic: NicJson): Promise<void> {
    return this.caller.call(`PUT networkInterface ${nic.name}`, (abortSignal) =>
      this.raw.write('PUT', this.nicPath(resourceGroup, nic.name), NETWORK_API_VERSION, nic, { abortSignal, ifMatch: nic.etag, pollIntervalMs: this.poll.updateIntervalInMs }));
  }

  getPublicIp(resourceGroup: string, name: string): Promise<PublicIPAddress | undefined> {
    return this.orUndefined(`GET publicIPAddress ${name}`, (abortSignal) =>
      this.network.publicIPAddresses.get(resourceGroup, name, { abortSignal }));
  }

  putPublicIp(resourceGroup: string, name: string, pip: PublicIPAddress): Promise<PublicIPAddress> {
    return this.caller.call(`PUT publicIPAddress ${name}`, async (abortSignal) =>
      this.network.publicIPAddresses.createOrUpdate(resourceGroup, name, pip, { abortSignal, ...this.poll }));
  }

  deletePublicIp(resourceGroup: string, name: string): Promise<void> {
    return this.ignoreNotFound(`DELETE publicIPAddress ${name}`, async (abortSignal) =>
      this.network.publicIPAddresses.delete(resourceGroup, name, { abortSignal, ...this.poll }));
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

  private vmssPath(resourceGroup: string, name: string): string {
    return `/subscriptions/${this.config.subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/virtualMachineScaleSets/${name}`;
  }

  /** The VMSS model's NIC configurations as ARM's JSON, every field kept, and the etag that guards writing them back. */
  async getVmssNetwork(resourceGroup: string, name: string): Promise<VmssNetwork | undefined> {
    const raw = await this.orUndefined(`GET virtualMachineScaleSet ${name}`, (abortSignal) =>
      this.raw.get(this.vmssPath(resourceGroup, name), COMPUTE_API_VERSION, { abortSignal, pollIntervalMs: 0 }));
    if (raw === undefined) return undefined;
    const v = parseArm(vmssNetworkSchema, `GET virtualMachineScaleSet ${name}`, raw);
    return { etag: v.etag, nics: v.properties?.virtualMachineProfile?.networkProfile?.networkInterfaceConfigurations ?? [] };
  }

  /**
   * PATCHes only the model's NIC configurations (a merge patch: everything
   * else stays as it is; the array is replaced whole, so it carries back every
   * field as read), guarded by the etag we read.
   */
  updateVmssNics(resourceGroup: string, name: string, nics: NicConfigJson[], etag: string | undefined): Promise<void> {
    const body = { properties: { virtualMachineProfile: { networkProfile: { networkInterfaceConfigurations: nics } } } };
    return this.caller.call(`PATCH virtualMachineScaleSet ${name}`, (abortSignal) =>
      this.raw.write('PATCH', this.vmssPath(resourceGroup, name), COMPUTE_API_VERSION, body, { abortSignal, ifMatch: etag, pollIntervalMs: this.poll.updateIntervalInMs }));
  }

  listVmssVms(resourceGroup: string, name: string): Promise<VmssVmJson[]> {
    return this.caller.call(`LIST virtualMachineScaleSetVMs ${name}`, async (abortSignal) => {
      const raw = await this.raw.list(`${this.vmssPath(resourceGroup, name)}/virtualMachines`, COMPUTE_API_VERSION, { abortSignal, pollIntervalMs: 0 });
      return raw.map((vm) => parseArm(vmssVmSchema, `LIST virtualMachineScaleSetVMs ${name}`, vm));
    });
  }

  /**
   * PUTs one instance with nothing but its NIC configurations, as the Go
   * original does: a whole-VM body would carry identities, images, tags and
   * protection policy from the list snapshot, and ARM checks permission on
   * every linked resource in it (403 LinkedAuthorizationFailed on AKS).
   */
  updateVmssVm(resourceGroup: string, name: string, vm: Pick<VmssVmJson, 'instanceId' | 'etag'>, nics: NicConfigJson[]): Promise<void> {
    const body = { properties: { networkProfileConfiguration: { networkInterfaceConfigurations: nics } } };
    return this.caller.call(`PUT virtualMachineScaleSetVM ${name}/${vm.instanceId}`, (abortSignal) =>
      this.raw.write('PUT', `${this.vmssPath(resourceGroup, name)}/virtualMachines/${vm.instanceId}`, COMPUTE_API_VERSION, body, {
        abortSignal, ifMatch: vm.etag, pollIntervalMs: this.poll.updateIntervalInMs,
      }));
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
