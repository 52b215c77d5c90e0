import { z } from 'zod';
import { instanceMetadata } from '../../lib/azure/imds.ts';

const NetworkSchema = z.object({
  network: z.object({
    interface: z.array(z.object({
      ipv4: z.object({ subnet: z.array(z.object({ address: z.ipv4(), prefix: z.string().regex(/^\d{1,2}$/) })).default([]) }),
    })).default([]),
  }),
});

/**
 * This VM's subnets (every NIC's IPv4 subnet), from Azure IMDS. Where pods
 * take their IPs from the node's subnet (Azure CNI), this is where other
 * pods and nodes of the pool live. IMDS does not know the VNet's whole
 * address space: other subnets need --vnet-cidrs.
 */
export async function vnetRangesFromImds(endpoint: string, opts: { timeoutMs?: number } = {}): Promise<string[]> {
  const instance = await instanceMetadata(endpoint, NetworkSchema, opts);
  return instance.network.interface.flatMap((i) => i.ipv4.subnet.map((s) => `${s.address}/${s.prefix}`));
}
