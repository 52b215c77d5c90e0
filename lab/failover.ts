import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readGuard } from '../cni/manager/tunnel-guard.ts';
import { KINDS } from '../lib/api/constants.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import { inNetns } from '../lib/exec/runner.ts';
import { resourcePath } from '../lib/kube/paths.ts';
import { WgLinks } from '../lib/wireguard/link.ts';
import { until } from '../testenv/wait.ts';
import { createPod, type LabPod } from './kubelet.ts';
import { SYSTEM_NAMESPACE } from './kube-objects.ts';
import type { Lab, LabMachine } from './lab.ts';
import { measureOutage, type Outage } from './outage.ts';
import { killGatewayNode } from './parts.ts';
import type { RouterStatus } from './router/daemon.ts';
import { applySgc, gatewayForEgress, startLoop, waitEgress, waitSgcReady } from './scenario.ts';

/*
 * Gateway failures under a steady request loop, as the failover e2e tests
 * and bench/gateway/failover.ts stage them.
 */

/** Every gateway's GatewayStatus shows `sgc` (`<namespace>/<name>`) ready with exactly `peers` peers. */
export async function gatewaysHoldPeers(lab: Lab, sgc: string, peers: number): Promise<boolean> {
  const list = await lab.kube.rest.get<{ items: { spec?: { nodeName?: string }; status?: { gateways?: { staticGatewayConfiguration: string; ready: boolean; peerCount?: number }[] } }[] }>(resourcePath(RESOURCES[KINDS.GatewayStatus], SYSTEM_NAMESPACE));
  return lab.gateways.every((g) => list.items.some((s) => s.spec?.nodeName === g.computerName &&
    s.status?.gateways?.some((e) => e.staticGatewayConfiguration === sgc && e.ready && e.peerCount === peers)));
}

/** Fewest healthy backends of any load-balancer frontend, as the router last probed them. */
export function healthyBackends(lab: Lab): number {
  const status = JSON.parse(readFileSync(join(lab.dir, 'router-status.json'), 'utf8')) as RouterStatus;
  return Math.min(...Object.values(status.frontends).map((f) => f.healthy.length));
}

/**
 * The failover tests' setting: SGC `default/ha` on the gateway pool, its pod
 * `ha-client` on the first worker egressing, both gateways in the load
 * balancer's rotation.
 */
export async function haClient(lab: Lab): Promise<{ worker: LabMachine; pod: LabPod; prefix: string; port: number }> {
  const worker = lab.workers[0] as LabMachine;
  await applySgc(lab, 'default', 'ha', { gatewayNodepoolName: 'gwpool' });
  const sgc = await waitSgcReady(lab, 'default', 'ha');
  const pod = await createPod(lab, worker, { namespace: 'default', name: 'ha-client', sgc: 'ha' });
  await waitEgress(lab, pod);
  await until('both gateways in rotation', () => healthyBackends(lab) === 2, 60_000);
  return { worker, pod, prefix: sgc.status?.egressIpPrefix as string, port: sgc.status?.gatewayServerProfile?.port as number };
}

export interface Kill {
  outage: Outage;
  victim: LabMachine;
  /** The egress source before the kill. */
  serving: string;
}

/**
 * The last `n` requests all succeeded through one gateway. Right after a
 * gateway comes back, the load balancer hands it its flows back and the
 * agent resets sessions, so a scenario measured from then on would count
 * that move as its own.
 */
export function steadyFlow(samples: readonly { ok: boolean; source?: string | undefined }[], n: number): boolean {
  const last = samples.slice(-n);
  return last.length === n && last.every((s) => s.ok && s.source === last[0]?.source);
}

/**
 * Kills the gateway node the pod's flow goes through, during a request loop
 * (one request every `intervalMs`, each given up after `timeoutMs`), and
 * measures the outage.
 */
export async function killServingGateway(lab: Lab, pod: LabPod, opts: { intervalMs?: number; timeoutMs?: number } = {}): Promise<Kill> {
  const loop = startLoop(lab, pod, opts.intervalMs ?? 100, opts.timeoutMs ?? 1_000);
  await until('a steady flow through one gateway', () => steadyFlow(loop.samples(), 20), 60_000);
  const serving = loop.samples().at(-1)?.source as string;
  const victim = gatewayForEgress(lab, serving);
  if (!victim) throw new Error(`no gateway node owns the egress address ${serving}`);
  const killedAt = Date.now();
  await killGatewayNode(lab, victim);
  // Recovered means served by another gateway: a request that started just
  // before the link went down may still have succeeded through the victim.
  await until('egress to recover', () => loop.samples().some((s) => s.t > killedAt && s.ok && s.source !== serving), 120_000, 250);
  await new Promise((r) => setTimeout(r, 500));
  await loop.stop();
  return { outage: measureOutage(loop.samples(), killedAt), victim, serving };
}

/** The pod's tunnel (wg0) and its state. */
async function podTunnel(lab: Lab, pod: LabPod) {
  const links = new WgLinks(lab.runner);
  const wg0 = await links.find('wg0', pod.netns.path);
  if (!wg0) throw new Error(`pod ${pod.name} has no wg0`);
  return links.wg(wg0).show(wg0.wgName);
}

/** Where the pod's tunnel sends: the load balancer's frontend, or a gateway node's IP after a failover. */
export async function tunnelEndpoint(lab: Lab, pod: LabPod): Promise<string | null> {
  return (await podTunnel(lab, pod)).peers[0]?.endpoint ?? null;
}

/** The one endpoint the agent's tunnel guard lets the pod's tunnel hear a gateway from (docs/cni.md#tunnel-guard); undefined without an entry. */
export async function guardedEndpoint(lab: Lab, worker: LabMachine, pod: LabPod): Promise<string | undefined> {
  const port = (await podTunnel(lab, pod)).listenPort;
  return (await readGuard(inNetns(lab.runner, worker.path))).get(port);
}
