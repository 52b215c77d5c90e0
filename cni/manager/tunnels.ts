import type { Logger } from '../../lib/log.ts';
import type { WgLinks } from '../../lib/wireguard/link.ts';
import { podFields, type PodStore } from './pods.ts';
import { readTunnel, type TunnelGuard } from './tunnel-guard.ts';

/** Pod tunnels read or changed at once (each is a `wg` or `ip` process). */
const CONCURRENCY = 8;

/**
 * With failover off, no agent will ever move a pinned pod again: a pod left
 * pinned to a gateway node (by an earlier run with failover on) would stay
 * there even once that node dies. So each such pod goes back to the load
 * balancer, its default entry and the only fallback left.
 */
export async function returnPinnedToBalancer(o: { pods: PodStore; links: WgLinks; log: Logger; guard?: TunnelGuard }): Promise<number> {
  let returned = 0;
  await eachLimited(o.pods.list().filter((p) => !p.unwired), async (pod) => {
    try {
      const tunnel = await readTunnel(o.links, pod);
      const endpoint = tunnel?.peer?.endpoint ?? null;
      if (tunnel === undefined || endpoint === null || endpoint === pod.gatewayEndpoint) return;
      await o.guard?.set(pod.containerId, { port: tunnel.port, endpoint: pod.gatewayEndpoint });
      await o.links.wg(tunnel.link).resetPeer(tunnel.link.wgName, { publicKey: pod.gatewayPublicKey, endpoint: pod.gatewayEndpoint, allowedIps: ['0.0.0.0/0'] });
      returned++;
    } catch (err) {
      o.log.warn('cannot return a pinned pod to the load balancer', { ...podFields(pod), err });
    }
  });
  if (returned > 0) o.log.info('failover is off: pinned pods returned to the load balancer', { pods: returned });
  return returned;
}

/** Runs `work` on each item, a few at a time. */
export async function eachLimited<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
}

export function hostOf(endpoint: string | null | undefined): string | undefined {
  return endpoint?.slice(0, endpoint.lastIndexOf(':'));
}

export function portOf(endpoint: string): string {
  return endpoint.slice(endpoint.lastIndexOf(':') + 1);
}

/** A stable small hash, to spread pods over the live gateways. */
export function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
  return h;
}

