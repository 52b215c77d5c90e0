import { Counter, Gauge, Histogram, LATENCY_BUCKETS, type Registry } from '../lib/metrics.ts';
import type { WgDeviceState } from '../lib/wireguard/dump.ts';
import type { DropReason } from './tunnel-filter.ts';

/** A gateway's traffic figures, read from its link when metrics are scraped. */
export interface GatewaySample {
  gateway: string;
  state: WgDeviceState;
}

export interface GatewayMetrics {
  bytes: Gauge<'gateway' | 'direction'>;
  handshakeAge: Gauge<'gateway'>;
  peers: Gauge<'gateway'>;
  programmingSeconds: Histogram<'gateway'>;
  errors: Counter<'operation'>;
  tunnelDropped: Counter<'reason'>;
}

const SAMPLE_TTL_MS = 1000;

/**
 * The daemon's Prometheus metrics. Byte counts and handshake ages come from
 * `wg show dump` at scrape time (one read per gateway, shared by the gauges
 * of one scrape), so nothing polls WireGuard between scrapes.
 */
export function gatewayMetrics(
  registry: Registry, sample: () => Promise<GatewaySample[]>, dropped: () => Promise<Record<DropReason, number>>, now: () => number = Date.now,
): GatewayMetrics {
  let cached: { at: number; value: Promise<GatewaySample[]> } | undefined;
  const samples = (): Promise<GatewaySample[]> => {
    if (!cached || now() - cached.at > SAMPLE_TTL_MS) cached = { at: now(), value: sample().catch(() => []) };
    return cached.value;
  };
  const bytes = new Gauge({
    name: 'keg_gateway_bytes',
    help: 'Bytes through the gateway\'s tunnel, summed over its current peers (in: from pods, out: to pods); drops when peers go',
    labelNames: ['gateway', 'direction'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const { gateway, state } of await samples()) {
        this.set({ gateway, direction: 'in' }, state.peers.reduce((n, p) => n + p.rxBytes, 0));
        this.set({ gateway, direction: 'out' }, state.peers.reduce((n, p) => n + p.txBytes, 0));
      }
    },
  });
  const handshakeAge = new Gauge({
    name: 'keg_gateway_oldest_handshake_age_seconds',
    help: 'Age of the oldest latest-handshake among the gateway\'s peers that have completed one',
    labelNames: ['gateway'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const { gateway, state } of await samples()) {
        const oldest = state.peers.reduce((min, p) => (p.latestHandshake !== null && p.latestHandshake < min ? p.latestHandshake : min), Infinity);
        if (oldest !== Infinity) this.set({ gateway }, Math.max(0, now() / 1000 - oldest));
      }
    },
  });
  return {
    bytes,
    handshakeAge,
    peers: new Gauge({ name: 'keg_gateway_peers', help: 'Peers installed on the gateway\'s link', labelNames: ['gateway'] as const, registers: [registry] }),
    programmingSeconds: new Histogram({
      name: 'keg_gateway_peer_programming_seconds',
      help: 'From the PodEndpoint event to the peer installed on the link',
      labelNames: ['gateway'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    errors: new Counter({ name: 'keg_gateway_errors_total', help: 'Failed operations', labelNames: ['operation'] as const, registers: [registry] }),
    tunnelDropped: new Counter({
      name: 'keg_gateway_tunnel_dropped_packets_total',
      help: 'Tunnelled packets the gateway dropped (node: to the gateway node itself; platform: link-local or 168.63.129.16; denied: --tunnel-deny-cidrs), read from nft counters at scrape time',
      labelNames: ['reason'] as const,
      registers: [registry],
      async collect() {
        const counts = await dropped().catch(() => undefined);
        if (!counts) return;
        this.reset();
        for (const [reason, n] of Object.entries(counts)) this.inc({ reason }, n);
      },
    }),
  };
}
