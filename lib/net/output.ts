import { z } from 'zod';
import { KegError } from '../errors.ts';

/**
 * Parses a command's JSON output and validates it at the edge, so a changed
 * output format of `ip` or `nft` fails loudly here instead of as an undefined
 * field deep inside a reconciler. The output itself is not put in the message:
 * it can be large.
 */
export function parseJsonOutput<S extends z.ZodType>(schema: S, stdout: string, code: string, what: string): z.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch (err) {
    throw new KegError(code, `${what}: output is not JSON`, { cause: err });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new KegError(code, `${what}: unexpected output: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
