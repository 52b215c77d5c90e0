/**
 * Applies gateway ipConfigs to an AKS node pool of type VirtualMachines: the
 * pool's NICs (tagged `aks-managed-static-gateway-nic` and
 * `aks-managed-poolName`) get the gateway ipConfig, and in public mode a public
 * IP of their own from the prefix, named as Go names it. Self-repair as for
 * VMSS instances: a NIC in state Failed or lacking an IP is written again. One
 * Batcher lane per pool; one NIC failing never stops the others.
 */
import { KegError, describeError } from '../lib/errors.ts';
import type { Azure, NicJson } from './azure/client.ts';
import { Batcher, type Outcome } from './batcher.ts';
import { applyNicIpConfigs } from './nic-model.ts';
import { nicPublicIpName } from './vm-pool-names.ts';
import { mapLimit, missingIps, type InstanceIps, type VmssRef } from './vmss-sync.ts';
import type { IpConfigWant } from './vmss-model.ts';

const STATIC_GATEWAY_NIC_TAG = 'aks-managed-static-gateway-nic';
const POOL_TAG = 'aks-managed-poolName';
const NIC_PARALLELISM = 8;

const tag = (nic: NicJson, name: string) => Object.entries(nic.tags ?? {}).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
const nameOf = (id: string) => id.split('/').pop() ?? id;

function ipsOf(nic: NicJson, nodeName: string): InstanceIps {
  const ipByConfig = new Map<string, string>();
  let primaryIP: string | undefined;
  for (const c of nic.properties?.ipConfigurations ?? []) {
    const ip = c.properties?.privateIPAddress;
    if (!ip) continue;
    ipByConfig.set(c.name.toLowerCase(), ip);
    if (c.properties?.primary) primaryIP ??= ip;
  }
  return { instanceId: nic.name, nodeName, primaryIP, ipByConfig };
}

export class NicSync {
  private readonly azure: Azure;
  private readonly batcher: Batcher<{ ref: VmssRef; want: IpConfigWant }, InstanceIps[]>;

  constructor(azure: Azure, batchDelayMs: number) {
    this.azure = azure;
    this.batcher = new Batcher({ delayMs: batchDelayMs, flush: (_key, wants) => this.flush(wants) });
  }

  /** Resolves, after a write that includes `want` (or none was needed), with every NIC's IPs. */
  apply(ref: VmssRef, want: IpConfigWant): Promise<InstanceIps[]> {
    return this.batcher.submit(`vm-pool/${ref.resourceGroup}/${ref.vmssName}`.toLowerCase(), want.name.toLowerCase(), { ref, want });
  }

  private async flush(wants: ReadonlyMap<string, { ref: VmssRef; want: IpConfigWant }>): Promise<Map<string, Outcome<InstanceIps[]>>> {
    const first = [...wants.values()][0];
    if (!first) return new Map();
    const { resourceGroup: rg, vmssName: pool, uniqueId } = first.ref;
    const list = [...wants.values()].map((w) => w.want);
    const poolId = `${this.azure.loadBalancerId()}/backendAddressPools/${uniqueId}`;
    const [nics, vms] = await Promise.all([this.azure.listNics(rg), this.azure.listVms(rg)]);
    // The profile's nodeName is the VM's computerName (the Kubernetes node name); Go uses the NIC name, which its daemon also matches.
    const nodeNames = new Map(vms.map((v) => [(v.id ?? '').toLowerCase(), (v.osProfile?.computerName ?? v.name ?? '').toLowerCase()]));
    const mine = nics.filter((n) => tag(n, STATIC_GATEWAY_NIC_TAG) !== undefined && (tag(n, POOL_TAG) ?? '').toLowerCase() === pool.toLowerCase());
    const ips = await mapLimit(mine, NIC_PARALLELISM, async (nic) => {
      const nodeName = nodeNames.get((nic.properties?.virtualMachine?.id ?? '').toLowerCase()) ?? nic.name.toLowerCase();
      try {
        return await this.syncNic(rg, nic, list, poolId, nodeName);
      } catch (err) {
        return { ...ipsOf(nic, nodeName), problem: `NIC ${nic.name}: ${describeError(err)}` };
      }
    });
    return new Map([...wants.keys()].map((id) => [id, ips]));
  }

  /** The public IP of each present public-mode want on this NIC, created from its prefix when missing. */
  private async ensurePublicIps(rg: string, nic: NicJson, wants: readonly IpConfigWant[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const w of wants) {
      if (!w.present || !w.prefixId) continue;
      const name = nicPublicIpName(nameOf(w.prefixId), nic.name);
      let pip = await this.azure.getPublicIp(rg, name);
      if (!pip?.id || (pip.publicIPPrefix?.id ?? '').toLowerCase() !== w.prefixId.toLowerCase()) {
        pip = await this.azure.putPublicIp(rg, name, {
          location: this.azure.config.location, sku: { name: 'Standard', tier: 'Regional' },
          publicIPAddressVersion: 'IPv4', publicIPAllocationMethod: 'Static', publicIPPrefix: { id: w.prefixId },
        });
      }
      if (!pip.id) throw new KegError('ARM_RESPONSE_INVALID', `public IP ${name} has no id`);
      out.set(w.name.toLowerCase(), pip.id);
    }
    return out;
  }

  private async syncNic(rg: string, nic: NicJson, wants: readonly IpConfigWant[], poolId: string, nodeName: string): Promise<InstanceIps> {
    const before = ipsOf(nic, nodeName);
    const pipIds = await this.ensurePublicIps(rg, nic, wants);
    const change = applyNicIpConfigs(nic.properties?.ipConfigurations ?? [], wants, poolId, pipIds);
    const failed = /^failed$/i.test(nic.properties?.provisioningState ?? '');
    if (!change.changed && !failed && missingIps(before, wants).length === 0) return before;
    try {
      await this.azure.putNic(rg, { ...nic, properties: { ...nic.properties, ipConfigurations: change.list } });
    } catch (err) {
      return { ...before, problem: `NIC ${nic.name}: ${describeError(err)}` };
    }
    // Public IPs a gateway let go are ours (named for this NIC): deleted once no ipConfig holds them, or the prefix could not go.
    for (const id of change.released) await this.azure.deletePublicIp(rg, nameOf(id));
    const after = await this.azure.getNic(rg, nic.name);
    return after ? ipsOf(after, nodeName) : before;
  }
}
