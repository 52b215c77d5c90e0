import { z } from 'zod';
import { KegError, describeError } from '../lib/errors.ts';

/** The IMDS API version we ask for; the fields read here exist in every version since 2019. */
export const IMDS_API_VERSION = '2021-02-01';

const InstanceSchema = z.object({
  compute: z.object({
    name: z.string(),
    osProfile: z.object({ computerName: z.string().min(1) }),
  }),
});

/**
 * The Kubernetes node name of this VM, from Azure IMDS: a VMSS instance's
 * node is named after its computer name, lowercased (as the cloud provider does).
 */
export async function nodeNameFromImds(endpoint: string, opts: { timeoutMs?: number } = {}): Promise<string> {
  const url = `${endpoint}/metadata/instance?api-version=${IMDS_API_VERSION}`;
  let res: Response;
  try {
    res = await fetch(url, { headers: { Metadata: 'true' }, signal: AbortSignal.timeout(opts.timeoutMs ?? 5000) });
  } catch (err) {
    throw new KegError('IMDS_UNREACHABLE', `GET ${url}: ${describeError(err)}`, { cause: err });
  }
  if (!res.ok) throw new KegError('IMDS_FAILED', `GET ${url}: HTTP ${res.status}`);
  const parsed = InstanceSchema.safeParse(await res.json().catch(() => undefined));
  if (!parsed.success) throw new KegError('IMDS_INVALID', `GET ${url}: unexpected answer: ${z.prettifyError(parsed.error)}`);
  return parsed.data.compute.osProfile.computerName.toLowerCase();
}
