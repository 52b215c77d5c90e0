/**
 * Applies gateway ipConfigs to a VMSS: the model first, then every instance,
 * then reads back each instance's IPs. As in the Go original, an instance is
 * written when its NIC configuration differs, when its provisioningState is
 * Failed, or when its NIC lacks the primary or a gateway's secondary IP (a
 * half-applied update); each write sends only the NIC configurations. One
 * instance failing never stops the others: its problem is reported with it.
 * One Batcher lane per VMSS merges the wants of all its gateways into a
 * single model write; with nothing to change, it writes nothing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { KegError, describeError } from '../lib/errors.ts';
import type { Azure, NetworkInterface, NicConfigJson, VmssVmJson } from './azure/client.ts';
import { Batcher, type Outcome } from './batcher.ts';
import { applyIpConfigs, type IpConfigWant } from './vmss-model.ts';

export interface InstanceIps {
  instanceId: string;
  /** osProfile.computerName: the Kubernetes node name. */
  nodeName: string;
  primaryIP: string | undefined;
  /** Private IP of each ipConfig by lower-cased name. */
  ipByConfig: Map<string, string>;
  /** Why this instance could not be written or read, if it could not (missing IPs are not a problem here: see missingIps). */
  problem?: string | undefined;
}

export interface VmssRef {
  resourceGroup: string;
  vmssName: string;
  uniqueId: string;
}

/** How many instance writes or NIC reads run at once on one VMSS. */
const INSTANCE_PARALLELISM = 8;

export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

function ipsOf(vm: VmssVmJson, nics: NetworkInterface[]): InstanceIps {
  const ipByConfig = new Map<string, string>();
  let primaryIP: string | undefined;
  for (const nic of nics) {
    for (const c of nic.ipConfigurations ?? []) {
      if (!c.privateIPAddress) continue;
      ipByConfig.set((c.name ?? '').toLowerCase(), c.privateIPAddress);
      if (nic.primary !== false && c.primary) primaryIP ??= c.privateIPAddress;
    }
  }
  return { instanceId: vm.instanceId, nodeName: (vm.properties?.osProfile?.computerName ?? vm.name ?? '').toLowerCase(), primaryIP, ipByConfig };
}

/** What an instance's NIC is missing of what the wants need: the primary IP, or a present gateway's secondary IP. */
export function missingIps(ips: InstanceIps, wants: readonly IpConfigWant[]): string[] {
  const missing = wants.some((w) => w.present) && !ips.primaryIP ? ['primary IP'] : [];
  for (const w of wants) if (w.present && !ips.ipByConfig.has(w.name.toLowerCase())) missing.push(`IP for ipConfig ${w.name}`);
  return missing;
}

/** NIC reads after an instance write: ARM's NIC view can lag the instance's operation by a few seconds. */
const READ_BACK_ATTEMPTS = 4;

export class VmssSync {
  private readonly azure: Azure;
  private readonly batcher: Batcher<{ ref: VmssRef; want: IpConfigWant }, InstanceIps[]>;
  private readonly readBackDelayMs: number;

  constructor(azure: Azure, batchDelayMs: number, readBackDelayMs = 1_000) {
    this.azure = azure;
    this.readBackDelayMs = readBackDelayMs;
    this.batcher = new Batcher({ delayMs: batchDelayMs, flush: (_key, wants) => this.flush(wants) });
  }

  /** Resolves, after a write that includes `want` (or none was needed), with every instance's IPs. */
  apply(ref: VmssRef, want: IpConfigWant): Promise<InstanceIps[]> {
    return this.batcher.submit(`${ref.resourceGroup}/${ref.vmssName}`.toLowerCase(), want.name.toLowerCase(), { ref, want });
  }

  private async flush(wants: ReadonlyMap<string, { ref: VmssRef; want: IpConfigWant }>): Promise<Map<string, Outcome<InstanceIps[]>>> {
    const first = [...wants.values()][0];
    if (!first) return new Map();
    const { resourceGroup, vmssName, uniqueId } = first.ref;
    const list = [...wants.values()].map((w) => w.want);
    const poolId = `${this.azure.loadBalancerId()}/backendAddressPools/${uniqueId}`;
    const vmss = await this.azure.getVmssNetwork(resourceGroup, vmssName);
    if (!vmss) throw new KegError('VMSS_NOT_FOUND', `VMSS ${vmssName} not found in resource group ${resourceGroup}`);
    const nics = structuredClone(vmss.nics);
    if (applyIpConfigs(nics, list, poolId)) await this.azure.updateVmssNics(resourceGroup, vmssName, nics, vmss.etag);
    const vms = await this.azure.listVmssVms(resourceGroup, vmssName);
    const ips = await mapLimit(vms, INSTANCE_PARALLELISM, async (vm) => {
      try {
        return await this.syncInstance(resourceGroup, vmssName, vm, list, poolId);
      } catch (err) {
        const base = ipsOf(vm, []);
        return { ...base, problem: `instance ${base.nodeName || vm.instanceId}: ${describeError(err)}` };
      }
    });
    return new Map([...wants.keys()].map((id) => [id, ips]));
  }

  private async syncInstance(rg: string, vmssName: string, vm: VmssVmJson, wants: readonly IpConfigWant[], poolId: string): Promise<InstanceIps> {
    const nics: NicConfigJson[] = structuredClone(vm.properties?.networkProfileConfiguration?.networkInterfaceConfigurations ?? []);
    if (nics.length === 0) throw new KegError('VMSS_INSTANCE_NO_NETWORK', 'the instance has no network profile configuration');
    const read = async () => ipsOf(vm, await this.azure.listVmNics(rg, vmssName, vm.instanceId));
    const before = await read();
    const changed = applyIpConfigs(nics, wants, poolId);
    const failed = /^failed$/i.test(vm.properties?.provisioningState ?? '');
    if (!changed && !failed && missingIps(before, wants).length === 0) return before;
    try {
      await this.azure.updateVmssVm(rg, vmssName, vm, nics);
    } catch (err) {
      // A failed write leaves the instance as it was: what its NIC still has keeps serving.
      const now = await read().catch(() => before);
      return { ...now, problem: `instance ${now.nodeName}: ${describeError(err)}` };
    }
    // What is still missing afterwards each gateway reports itself (vm.ts problemOf): only its own IPs concern it.
    for (let attempt = 1; ; attempt++) {
      const after = await read();
      if (missingIps(after, wants).length === 0 || attempt >= READ_BACK_ATTEMPTS) return after;
      await sleep(this.readBackDelayMs * attempt);
    }
  }
}
