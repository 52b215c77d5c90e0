/**
 * Applies gateway ipConfigs to a VMSS: the model first, then every instance
 * whose NIC configuration differs, then reads back each instance's IPs. One
 * Batcher lane per VMSS merges the wants of all its gateways into a single
 * model write; with nothing to change, it writes nothing.
 */
import { KegError } from '../lib/errors.ts';
import type { Azure, NetworkInterface, VirtualMachineScaleSetVM } from './azure/client.ts';
import { Batcher, type Outcome } from './batcher.ts';
import { applyIpConfigs, type IpConfigWant } from './vmss-model.ts';

export interface InstanceIps {
  instanceId: string;
  /** osProfile.computerName: the Kubernetes node name. */
  nodeName: string;
  primaryIP: string | undefined;
  /** Private IP of each ipConfig by lower-cased name. */
  ipByConfig: Map<string, string>;
}

export interface VmssRef {
  resourceGroup: string;
  vmssName: string;
  uniqueId: string;
}

/** How many instance writes or NIC reads run at once on one VMSS. */
const INSTANCE_PARALLELISM = 8;

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
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

function ipsOf(vm: VirtualMachineScaleSetVM, nics: NetworkInterface[]): InstanceIps {
  const ipByConfig = new Map<string, string>();
  let primaryIP: string | undefined;
  for (const nic of nics) {
    for (const c of nic.ipConfigurations ?? []) {
      if (!c.privateIPAddress) continue;
      ipByConfig.set((c.name ?? '').toLowerCase(), c.privateIPAddress);
      if (nic.primary !== false && c.primary) primaryIP ??= c.privateIPAddress;
    }
  }
  return { instanceId: vm.instanceId ?? '', nodeName: (vm.osProfile?.computerName ?? vm.name ?? '').toLowerCase(), primaryIP, ipByConfig };
}

export class VmssSync {
  private readonly azure: Azure;
  private readonly batcher: Batcher<{ ref: VmssRef; want: IpConfigWant }, InstanceIps[]>;

  constructor(azure: Azure, batchDelayMs: number) {
    this.azure = azure;
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
    const vmss = await this.azure.getVmss(resourceGroup, vmssName);
    if (!vmss) throw new KegError('VMSS_NOT_FOUND', `VMSS ${vmssName} not found in resource group ${resourceGroup}`);
    const nics = structuredClone(vmss.virtualMachineProfile?.networkProfile?.networkInterfaceConfigurations ?? []);
    if (applyIpConfigs(nics, list, poolId)) await this.azure.updateVmssNics(resourceGroup, vmssName, nics, vmss.etag);
    const vms = await this.azure.listVmssVms(resourceGroup, vmssName);
    const ips = await mapLimit(vms, INSTANCE_PARALLELISM, async (vm) => {
      const vmNics = structuredClone(vm.networkProfileConfiguration?.networkInterfaceConfigurations ?? []);
      if (vmNics.length > 0 && applyIpConfigs(vmNics, list, poolId)) {
        await this.azure.updateVmssVm(resourceGroup, vmssName, { ...vm, networkProfileConfiguration: { networkInterfaceConfigurations: vmNics } });
      }
      return ipsOf(vm, await this.azure.listVmNics(resourceGroup, vmssName, vm.instanceId ?? ''));
    });
    return new Map([...wants.keys()].map((id) => [id, ips]));
  }
}
