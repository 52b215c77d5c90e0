import { z } from 'zod';
import { KegError, describeError } from '../../lib/errors.ts';
import { IMDS_API_VERSION } from '../../gateway/imds.ts';

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
  const url = `${endpoint}/metadata/instance?api-version=${IMDS_API_VERSION}`;
  let res: Response;
  try {
    res = await fetch(url, { headers: { Metadata: 'true' }, signal: AbortSignal.timeout(opts.timeoutMs ?? 5000) });
  } catch (err) {
    throw new KegError('IMDS_UNREACHABLE', `GET ${url}: ${describeError(err)}`, { cause: err });
  }
  if (!res.ok) throw new KegError('IMDS_FAILED', `GET ${url}: HTTP ${res.status}`);
  const parsed = NetworkSchema.safeParse(await res.json().catch(() => undefined));
  if (!parsed.success) throw new KegError('IMDS_INVALID', `GET ${url}: unexpected answer: ${z.prettifyError(parsed.error)}`);
  return parsed.data.network.interface.flatMap((i) => i.ipv4.subnet.map((s) => `${s.address}/${s.prefix}`));
}
