import { z } from 'zod';
import { KegError, describeError } from '../errors.ts';

/** The IMDS API version we ask for; the fields we read exist in every version since 2019. */
export const IMDS_API_VERSION = '2021-02-01';

/**
 * GET this VM's instance metadata from Azure IMDS and parse what the caller
 * needs of it; unreachable, non-2xx and unexpected answers are KegErrors
 * (IMDS_UNREACHABLE, IMDS_FAILED, IMDS_INVALID) naming the URL.
 */
export async function instanceMetadata<T>(endpoint: string, schema: z.ZodType<T>, opts: { timeoutMs?: number } = {}): Promise<T> {
  const url = `${endpoint}/metadata/instance?api-version=${IMDS_API_VERSION}`;
  let res: Response;
  try {
    res = await fetch(url, { headers: { Metadata: 'true' }, signal: AbortSignal.timeout(opts.timeoutMs ?? 5000) });
  } catch (err) {
    throw new KegError('IMDS_UNREACHABLE', `GET ${url}: ${describeError(err)}`, { cause: err });
  }
  if (!res.ok) throw new KegError('IMDS_FAILED', `GET ${url}: HTTP ${res.status}`);
  const parsed = schema.safeParse(await res.json().catch(() => undefined));
  if (!parsed.success) throw new KegError('IMDS_INVALID', `GET ${url}: unexpected answer: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
