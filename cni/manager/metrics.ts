import { parseSgcRef } from '../../lib/api/sharing.ts';
import { Counter, Gauge, Histogram, LATENCY_BUCKETS, type Registry } from '../../lib/metrics.ts';
import type { PodRecord } from '../podnet/record.ts';

/** The node agent's metrics. Labels carry names and results, never keys. */
export function agentMetrics(registry: Registry) {
  return {
    requestDuration: new Histogram({
      name: 'keg_cni_agent_request_duration_seconds', help: 'Plugin requests served by the node agent', labelNames: ['op', 'result'], buckets: LATENCY_BUCKETS, registers: [registry],
    }),
    addPhases: new Histogram({
      name: 'keg_cni_add_phase_seconds', help: 'Parts of an annotated pod\'s ADD in the agent, overlapping: api (request to PodEndpoint written), tunnel (wiring start to link keyed and moved), netns (wiring start to routes, rule and nft done)',
      labelNames: ['phase'], buckets: LATENCY_BUCKETS, registers: [registry],
    }),
    probeFailures: new Counter({ name: 'keg_cni_gateway_probe_failures_total', help: 'Failed gateway health probes', labelNames: ['sgc'], registers: [registry] }),
    sessionResets: new Counter({ name: 'keg_cni_session_resets_total', help: 'Pod WireGuard sessions reset after a gateway changed state (failovers included)', labelNames: ['sgc'], registers: [registry] }),
    failovers: new Counter({ name: 'keg_cni_gateway_failovers_total', help: 'Pod tunnels pointed straight at a live gateway node because theirs fell silent', labelNames: ['sgc'], registers: [registry] }),
    pods: new Gauge({ name: 'keg_cni_pods', help: 'Annotated pods wired on this node', registers: [registry] }),
    conflistWrites: new Counter({ name: 'keg_cni_conflist_writes_total', help: 'Writes of the agent\'s own conflist (a copy of the primary network with the plugin last)', registers: [registry] }),
    chained: new Gauge({ name: 'keg_cni_chained', help: '1 while the plugin is chained into the primary CNI network, else 0', registers: [registry] }),
    chainRefusals: new Counter({
      name: 'keg_cni_chain_refusals_total', help: 'Times the agent stopped or refused chaining, by reason (no-primary, version, order, no-binary, uninstall)', labelNames: ['reason'], registers: [registry],
    }),
  };
}
export type AgentMetrics = ReturnType<typeof agentMetrics>;

/**
 * Wired pods by SGC, counted from the agent's pod records when scraped.
 * Labelled by SGC only: which gateway node a pod's tunnel is on is decided
 * by the load balancer, invisible from here, and counted per node by the
 * gateways (keg_gateway_peers_recent_handshake) without a label per pod.
 */
export function wiredPodsMetric(registry: Registry, pods: () => readonly PodRecord[]): Gauge<'sgc'> {
  return new Gauge({
    name: 'keg_cni_wired_pods', help: 'Pods wired on this node, by the SGC they egress through', labelNames: ['sgc'] as const, registers: [registry],
    collect() {
      this.reset();
      for (const [sgc, list] of Map.groupBy(pods().filter((p) => !p.unwired), sgcOfRecord)) this.set({ sgc }, list.length);
    },
  });
}

/** `<namespace>/<name>` of the SGC a pod record names (a bare name is the pod's own namespace). */
function sgcOfRecord(pod: PodRecord): string {
  const ref = parseSgcRef(pod.staticGatewayConfiguration, pod.pod.namespace);
  return `${ref.namespace}/${ref.name}`;
}
