import { z } from 'zod';
import { CORE, resourcePath } from '../../lib/kube/paths.ts';
import { isNotFound, type KubeRest } from '../../lib/kube/rest.ts';
import type { Logger } from '../../lib/log.ts';

/** The agent's own default exclusions: Azure IMDS and node-local DNS. */
export const DEFAULT_EXCLUSIONS = ['169.254.169.254/32', '169.254.10.11/32'];

const NodeSchema = z.looseObject({ spec: z.looseObject({ podCIDR: z.string().optional(), podCIDRs: z.array(z.string()).optional() }).optional() });
const ServiceSchema = z.looseObject({ spec: z.looseObject({ clusterIP: z.string().optional(), clusterIPs: z.array(z.string()).optional() }) });
const SliceListSchema = z.looseObject({
  items: z.array(z.looseObject({ addressType: z.string(), endpoints: z.array(z.looseObject({ addresses: z.array(z.string()) })).nullish() })),
});

const isV4 = (s: string): boolean => z.ipv4().safeParse(s).success;
const isV4Cidr = (s: string): boolean => z.cidrv4().safeParse(s).success;

/**
 * Cluster ranges a pod must keep reaching directly, so that 0.0.0.0/0 through
 * the gateway never cuts it off the API server: the node's pod CIDRs, the
 * `kubernetes` Service's ClusterIP and its endpoints (the API servers).
 */
export async function discoverClusterRanges(rest: KubeRest, nodeName: string): Promise<string[]> {
  const out: string[] = [];
  const node = NodeSchema.parse(await rest.get(resourcePath(CORE.nodes, undefined, nodeName)));
  out.push(...(node.spec?.podCIDRs ?? (node.spec?.podCIDR ? [node.spec.podCIDR] : [])).filter(isV4Cidr));
  try {
    const svc = ServiceSchema.parse(await rest.get(resourcePath(CORE.services, 'default', 'kubernetes')));
    out.push(...(svc.spec.clusterIPs ?? [svc.spec.clusterIP ?? '']).filter(isV4).map((ip) => `${ip}/32`));
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  const slices = SliceListSchema.parse(
    await rest.get(resourcePath(CORE.endpointSlices, 'default'), { query: { labelSelector: 'kubernetes.io/service-name=kubernetes' } }),
  );
  for (const s of slices.items) {
    if (s.addressType !== 'IPv4') continue;
    for (const e of s.endpoints ?? []) out.push(...e.addresses.filter(isV4).map((ip) => `${ip}/32`));
  }
  return [...new Set(out)];
}

/**
 * The agent's list plus the discovered ranges, refreshed at most every
 * `ttlMs`. A failed refresh keeps the last good answer (logged); with none
 * yet, it fails, because wiring a pod without them could cut it off.
 */
export class Exclusions {
  private readonly rest: KubeRest;
  private readonly nodeName: string;
  private readonly own: readonly string[];
  private readonly ttlMs: number;
  private readonly log: Logger;
  private cached: { at: number; ranges: string[] } | undefined;

  constructor(opts: { rest: KubeRest; nodeName: string; own: readonly string[]; ttlMs: number; log: Logger }) {
    this.rest = opts.rest;
    this.nodeName = opts.nodeName;
    this.own = opts.own;
    this.ttlMs = opts.ttlMs;
    this.log = opts.log;
  }

  async get(now = Date.now()): Promise<string[]> {
    if (this.cached === undefined || now - this.cached.at >= this.ttlMs) {
      try {
        this.cached = { at: now, ranges: await discoverClusterRanges(this.rest, this.nodeName) };
      } catch (err) {
        if (this.cached === undefined) throw err;
        this.log.warn('cannot refresh cluster ranges; using the last ones', { err });
      }
    }
    return [...new Set([...this.own, ...(this.cached?.ranges ?? [])])];
  }
}
