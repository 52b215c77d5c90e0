import { ArmError } from './ids.ts';
import type { ArmRequest, ArmResponse, World } from './world.ts';

/**
 * One page of a list, with a nextLink to the rest as ARM does: clients must
 * follow it, so tests set a small page size to prove they do.
 */
export function page(w: World, req: ArmRequest, items: readonly unknown[]): ArmResponse {
  const token = req.query.get('$skiptoken') ?? '0';
  const skip = Number(token);
  if (!Number.isInteger(skip) || skip < 0) throw new ArmError(400, 'InvalidSkipToken', `invalid $skiptoken ${JSON.stringify(token)}`);
  const end = skip + w.config.pageSize;
  const body: { value: unknown[]; nextLink?: string } = { value: items.slice(skip, end) };
  if (end < items.length) {
    const next = new URLSearchParams(req.query);
    next.set('$skiptoken', String(end));
    body.nextLink = `${w.endpoint}${req.path}?${next.toString()}`;
  }
  return { status: 200, body };
}
