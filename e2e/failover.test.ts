// Gateway failure and maintenance under a steady request loop, with the ILB
// probing at Azure's default interval. The outages are reported as comments.
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { DRAIN_IFNAME } from '../cni/manager/drain.ts';
import { startStream } from '../lab/availability.ts';
import { guardedEndpoint, haClient, healthyBackends, killServingGateway, steadyFlow, tunnelEndpoint } from '../lab/failover.ts';
import type { LabPod } from '../lab/kubelet.ts';
import type { LabMachine } from '../lab/lab.ts';
import { cordon, drainSeconds, gatewayLinkPrefix, reviveGatewayNode, startAgent, startGateway, stopAgent, stopGateway, surgeRestartGateway } from '../lab/parts.ts';
import { gatewayForEgress, inPrefix, startLoop } from '../lab/scenario.ts';
import { until } from '../testenv/wait.ts';
import { wireguardGoPids } from '../testenv/wireguard.ts';
import { startE2eLab } from './fixture.ts';

/** The pod's links, by name. */
function podLinks(pod: LabPod): string[] {
  return (JSON.parse(execFileSync('nsenter', [`--net=${pod.netns.path}`, 'ip', '-j', 'link', 'show'], { encoding: 'utf8' })) as { ifname: string }[]).map((l) => l.ifname);
}

t.test('gateway failover', async (t) => {
  const lab = await startE2eLab(t, { workers: 1, probeIntervalMs: 5_000 });
  const { worker: w, pod, prefix, port } = await haClient(lab);

  await t.test('8. a gateway node dies during a request loop: egress recovers (fast recovery on, then off)', async (t) => {
    t.equal(await guardedEndpoint(lab, w, pod), await tunnelEndpoint(lab, pod), 'the tunnel guard holds the load balancer\'s frontend');
    const on = await killServingGateway(lab, pod);
    t.ok(on.outage.after && inPrefix(on.outage.after, prefix), `recovered, egressing from ${on.outage.after}`);
    t.equal(await guardedEndpoint(lab, w, pod), await tunnelEndpoint(lab, pod), 'the tunnel guard follows the pod to the gateway node it is pinned to');
    t.comment(`outage with fast recovery: ${(on.outage.ms / 1000).toFixed(1)} s, ${on.outage.failed} requests failed (ILB probe every 5 s)`);
    await reviveGatewayNode(lab, on.victim);
    await until('both gateways back in rotation', () => healthyBackends(lab) === 2, 120_000);

    await stopAgent(lab, w);
    await startAgent(lab, w, ['--fast-recovery=false']);
    const off = await killServingGateway(lab, pod);
    t.ok(off.outage.after && inPrefix(off.outage.after, prefix), `recovered without fast recovery too, egressing from ${off.outage.after}`);
    t.comment(`outage without fast recovery: ${(off.outage.ms / 1000).toFixed(1)} s, ${off.outage.failed} requests failed`);
    await reviveGatewayNode(lab, off.victim);
    await stopAgent(lab, w);
    await startAgent(lab, w);
    await until('both gateways back in rotation', () => healthyBackends(lab) === 2, 120_000);
  });

  await t.test('9. rolling restart of every gateway daemon (surge, as the chart updates the DaemonSet): nothing fails', async (t) => {
    // Test 8 revived a gateway just before: its flows move back first, which is not the roll's doing.
    // It also restarted the agent twice (failover off, then on), as an agent upgrade before a
    // gateway upgrade does: the roll must lose nothing after that either.
    const loop = startLoop(lab, pod, 100);
    // A failed check must not leave the loop or the stream to the next test.
    t.teardown(() => loop.stop());
    await until('a steady flow through one gateway', () => steadyFlow(loop.samples(), 30), 120_000);
    const from = Date.now();
    const stream = await startStream(lab, pod);
    t.teardown(() => stream.stop());
    await until('the long-lived connection to flow', () => stream.echoed() >= 5, 60_000);
    const pids = lab.gateways.map((g) => wireguardGoPids(`${gatewayLinkPrefix(lab, g)}${port}`));
    for (const g of lab.gateways) {
      await surgeRestartGateway(lab, g);
      // The load balancer probes the new daemon at least once before the next node's turn.
      await new Promise((r) => setTimeout(r, lab.probeIntervalMs + 1_000));
      t.equal(healthyBackends(lab), 2, `${g.computerName} stayed in rotation`);
    }
    const atEnd = stream.echoed();
    await until('the long-lived connection to flow after the roll', () => stream.echoed() >= atEnd + 10, 30_000);
    await loop.stop();
    const samples = loop.samples().filter((s) => s.t >= from);
    const failed = samples.filter((s) => !s.ok).length;
    t.comment(`surge rolling restart: ${samples.length} requests, ${failed} failed`);
    // Runs that lost requests here (and the long-lived connection) had the
    // pod's tunnel roam to a gateway it had left, on that gateway's passive
    // keepalive; the agent's tunnel guard (docs/cni.md) now drops those.
    t.equal(failed, 0, `no request failed (${samples.length} made)`);
    t.ok(samples.slice(-10).every((s) => s.ok && inPrefix(s.source ?? '', prefix)), 'egress from the prefix');
    t.notOk(stream.closed(), 'the connection opened before the roll is still open and echoing');
    t.same(lab.gateways.map((g) => wireguardGoPids(`${gatewayLinkPrefix(lab, g)}${port}`)), pids, 'the same wireguard-go processes: links adopted, not recreated');
    await stream.stop();
  });

  await t.test('10. planned drain (cordon, then SIGTERM): make-before-break, no new request fails', async (t) => {
    const loop = startLoop(lab, pod, 100);
    t.teardown(() => loop.stop());
    await until('a steady flow through one gateway', () => steadyFlow(loop.samples(), 30), 120_000);
    const stream = await startStream(lab, pod);
    t.teardown(() => stream.stop());
    await until('the long-lived connection to flow', () => stream.echoed() >= 5, 60_000);
    const serving = loop.samples().at(-1)?.source as string;
    const victim = gatewayForEgress(lab, serving) as LabMachine;
    const cordonedAt = Date.now();
    const linesAtCordon = stream.echoed();
    await cordon(lab, victim, true);
    await until('the pod has a second tunnel to another gateway', () => podLinks(pod).includes(DRAIN_IFNAME), 30_000, 100);
    t.equal(await guardedEndpoint(lab, w, pod), `${victim.ip}:${port}`, 'the pod\'s tunnel is pinned to the draining gateway');
    // SIGTERM: the daemon exits --drain-seconds later (two load balancer
    // probe intervals), long after the load balancer failed the node.
    const stopped = stopGateway(lab, victim);
    // The load balancer fails the node --drain-agent-lead (3 s) after the agents heard of it, at its next probe.
    t.ok(await until('the load balancer to fail the draining node', () => healthyBackends(lab) === 1, 3_000 + lab.probeIntervalMs + 2_000, 100), 'the load balancer took the draining node out');
    await new Promise((r) => setTimeout(r, drainSeconds(lab) * 1000 - 1_000 - (Date.now() - cordonedAt)));
    const linesBeforeEnd = stream.echoed();
    t.notOk(stream.closed(), 'the connection opened before the drain is open 1 s before the drain ends');
    t.ok(linesBeforeEnd - linesAtCordon >= 40, `it echoed through the drain (${linesBeforeEnd - linesAtCordon} lines after the cordon)`);
    await stopped;
    const drainedAt = Date.now();
    await until('back to one tunnel after the drain', () => !podLinks(pod).includes(DRAIN_IFNAME), 30_000, 100);
    await new Promise((r) => setTimeout(r, 3_000));
    await loop.stop();
    const samples = loop.samples().filter((s) => s.t >= cordonedAt);
    const failed = samples.filter((s) => !s.ok).length;
    const others = samples.filter((s) => s.ok && s.source !== serving);
    const failedAt = samples.filter((s) => !s.ok).map((s) => `${((s.t - cordonedAt) / 1000).toFixed(1)} s`);
    t.comment(`planned drain: ${samples.length} requests from the cordon on, ${failed} failed${failed > 0 ? ` (started ${failedAt.join(', ')} after the cordon)` : ''}; drain ended ${((drainedAt - cordonedAt) / 1000).toFixed(1)} s after the cordon`);
    t.comment(`connection opened before the drain: ${stream.closed() ? 'closed' : 'open'} 3 s after the drain ended, ${stream.echoed() - linesAtCordon} lines echoed after the cordon`);
    t.equal(failed, 0, `no request failed (${samples.length} made from the cordon on)`);
    t.ok(others.length > 0 && samples.filter((s) => s.t >= cordonedAt + 2_000).every((s) => s.source !== serving), `new requests went to another gateway (${others[0]?.source ?? 'none'})`);
    t.ok(samples.slice(-10).every((s) => s.ok && inPrefix(s.source ?? '', prefix)), 'egress from the prefix after the drain');
    await stream.stop();
    await cordon(lab, victim, false);
    startGateway(lab, victim);
    await until('both gateways back in rotation', () => healthyBackends(lab) === 2, 120_000);
  });
});
