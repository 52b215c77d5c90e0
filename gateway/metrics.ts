import { Counter, Gauge, Histogram, LATENCY_BUCKETS, type Registry } from '../lib/metrics.ts';
import type { NftCounter } from '../lib/net/nft.ts';
import type { WgDeviceState } from '../lib/wireguard/dump.ts';
import { type GatewayConntrack, SNAT_PORTS_PER_IP } from './conntrack.ts';
import type { TrafficDirection } from './rules.ts';
import type { DropReason } from './tunnel-filter.ts';

/** A gateway's link state, read when metrics are scraped. */
export interface GatewaySample {
  gateway: string;
  port: number;
  state: WgDeviceState;
}

/** Where the scrape-time figures come from: each read at most once a second, whatever the scrapers. */
export interface GatewayMetricsSources {
  links: () => Promise<GatewaySample[]>;
  dropped: () => Promise<Record<DropReason, number>>;
  traffic: () => Promise<Map<number, Record<TrafficDirection, NftCounter>>>;
  conntrack: (ports: number[]) => Promise<Map<number, GatewayConntrack> | undefined>;
}

export interface GatewayMetrics {
  peers: Gauge<'gateway'>;
  programmingSeconds: Histogram<'gateway'>;
  errors: Counter<'operation'>;
}

const SAMPLE_TTL_MS = 1000;
/** WireGuard rekeys every 2 minutes while a session carries traffic or keepalives: a peer silent for longer has no session. */
export const RECENT_HANDSHAKE_SECONDS = 180;

/** `fn`, its answer shared by the calls within one TTL (the gauges of one scrape); a failure reads as `fallback`. */
function shared<T>(fn: () => Promise<T>, fallback: T, now: () => number): () => Promise<T> {
  let cached: { at: number; value: Promise<T> } | undefined;
  return () => {
    if (!cached || now() - cached.at > SAMPLE_TTL_MS) cached = { at: now(), value: fn().catch(() => fallback) };
    return cached.value;
  };
}

/**
 * The daemon's Prometheus metrics. Everything about the data path is read at
 * scrape time (one `wg show dump` per gateway, one nft counter listing and
 * one conntrack listing of the gateway namespace), so nothing polls between
 * scrapes and the cost is paid only by those who look.
 */
export function gatewayMetrics(registry: Registry, src: GatewayMetricsSources, now: () => number = Date.now): GatewayMetrics {
  const links = shared(src.links, [], now);
  /** Each served gateway with its key, for the figures kept by port. */
  const byPort = async () => new Map((await links()).map((l) => [l.port, l.gateway]));
  wireguardMetrics(registry, links, now);
  trafficMetrics(registry, byPort, shared(src.traffic, new Map(), now));
  conntrackMetrics(registry, byPort, shared(async () => src.conntrack((await links()).map((l) => l.port)), undefined, now));
  registry.registerMetric(new Counter({
    name: 'keg_gateway_tunnel_dropped_packets_total',
    help: 'Tunnelled packets the gateway dropped (node: to the gateway node itself; platform: link-local or 168.63.129.16; denied: --tunnel-deny-cidrs), read from nft counters at scrape time',
    labelNames: ['reason'] as const,
    registers: [],
    async collect() {
      const counts = await src.dropped().catch(() => undefined);
      if (!counts) return;
      this.reset();
      for (const [reason, n] of Object.entries(counts)) this.inc({ reason }, n);
    },
  }));
  return {
    peers: new Gauge({ name: 'keg_gateway_peers', help: 'Peers installed on the gateway\'s link', labelNames: ['gateway'] as const, registers: [registry] }),
    programmingSeconds: new Histogram({
      name: 'keg_gateway_peer_programming_seconds',
      help: 'From the PodEndpoint event to the peer installed on the link',
      labelNames: ['gateway'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    errors: new Counter({ name: 'keg_gateway_errors_total', help: 'Failed operations', labelNames: ['operation'] as const, registers: [registry] }),
  };
}

type ByPort = () => Promise<Map<number, string>>;

/** From each link's `wg show dump`: traffic of the current peers and their handshakes. */
function wireguardMetrics(registry: Registry, links: () => Promise<GatewaySample[]>, now: () => number): void {
  const wgGauge = (name: string, help: string, value: (s: WgDeviceState) => number | undefined) => new Gauge({
    name, help, labelNames: ['gateway'] as const, registers: [registry],
    async collect() {
      this.reset();
      for (const { gateway, state } of await links()) {
        const v = value(state);
        if (v !== undefined) this.set({ gateway }, v);
      }
    },
  });
  registry.registerMetric(new Gauge({
    name: 'keg_gateway_bytes',
    help: 'Bytes through the gateway\'s tunnel, summed over its current peers (in: from pods, out: to pods); drops when peers go',
    labelNames: ['gateway', 'direction'] as const,
    registers: [],
    async collect() {
      this.reset();
      for (const { gateway, state } of await links()) {
        this.set({ gateway, direction: 'in' }, state.peers.reduce((n, p) => n + p.rxBytes, 0));
        this.set({ gateway, direction: 'out' }, state.peers.reduce((n, p) => n + p.txBytes, 0));
      }
    },
  }));
  wgGauge('keg_gateway_oldest_handshake_age_seconds', 'Age of the oldest latest-handshake among the gateway\'s peers that have completed one', (state) => {
    const oldest = state.peers.reduce((min, p) => (p.latestHandshake !== null && p.latestHandshake < min ? p.latestHandshake : min), Infinity);
    return oldest === Infinity ? undefined : Math.max(0, now() / 1000 - oldest);
  });
  wgGauge('keg_gateway_peers_recent_handshake', `Peers whose latest handshake with this gateway node is under ${RECENT_HANDSHAKE_SECONDS} s old: the pods whose tunnel is on this node now`, (state) => {
    const since = now() / 1000 - RECENT_HANDSHAKE_SECONDS;
    return state.peers.filter((p) => p.latestHandshake !== null && p.latestHandshake >= since).length;
  });
}

/** From the nft counters of the gateways' tables. */
function trafficMetrics(registry: Registry, byPort: ByPort, traffic: GatewayMetricsSources['traffic']): void {
  for (const unit of ['bytes', 'packets'] as const) {
    registry.registerMetric(new Counter({
      name: `keg_gateway_traffic_${unit}_total`,
      help: `${unit === 'bytes' ? 'Bytes' : 'Packets'} of the gateway's pods (egress: out of the tunnel, before the tunnel filter; return: replies into it), from nft counters at scrape time`,
      labelNames: ['gateway', 'direction'] as const,
      registers: [],
      async collect() {
        const [names, counts] = await Promise.all([byPort(), traffic()]);
        this.reset();
        for (const [port, dirs] of counts) {
          const gateway = names.get(port);
          if (gateway !== undefined) for (const direction of ['egress', 'return'] as const) this.inc({ gateway, direction }, dirs[direction][unit]);
        }
      },
    }));
  }
}

/** From the gateway namespace's connection table. */
function conntrackMetrics(registry: Registry, byPort: ByPort, conntrack: () => Promise<Map<number, GatewayConntrack> | undefined>): void {
  const conntrackGauge = (name: string, help: string, labelNames: string[], set: (g: Gauge, gateway: string, c: GatewayConntrack) => void) => new Gauge({
    name, help, labelNames, registers: [registry],
    async collect() {
      const [names, table] = await Promise.all([byPort(), conntrack()]);
      this.reset();
      for (const [port, c] of table ?? []) {
        const gateway = names.get(port);
        if (gateway !== undefined) set(this, gateway, c);
      }
    },
  });
  conntrackGauge('keg_gateway_conntrack_entries', 'Tracked connections of the gateway\'s pods in the gateway namespace', ['gateway'], (g, gateway, c) => g.set({ gateway }, c.entries));
  conntrackGauge('keg_gateway_snat_ports_in_use', 'The most SNAT source ports the gateway\'s egress IP uses towards one destination address and port, by protocol', ['gateway', 'protocol'],
    (g, gateway, c) => { for (const [protocol, n] of c.snatPorts) g.set({ gateway, protocol }, n); });
  conntrackGauge('keg_gateway_snat_ports_available', 'SNAT source ports an egress IP has per destination address, port and protocol (1024-65535)', ['gateway'], (g, gateway) => g.set({ gateway }, SNAT_PORTS_PER_IP));
}
