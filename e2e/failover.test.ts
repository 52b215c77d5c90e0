// Gateway failure and maintenance under a steady request loop, with the ILB
// probing at Azure's default interval. The outages are reported as comments.
import t from 'tap';
import { haClient, healthyBackends, killServingGateway } from '../lab/failover.ts';
import { reviveGatewayNode, startAgent, startGateway, stopAgent, stopGateway } from '../lab/parts.ts';
import { inPrefix, startLoop } from '../lab/scenario.ts';
import { until } from '../testenv/wait.ts';
import { startE2eLab } from './fixture.ts';

t.test('gateway failover', async (t) => {
  const lab = await startE2eLab(t, { workers: 1, probeIntervalMs: 5_000 });
  const { worker: w, pod, prefix } = await haClient(lab);

  await t.test('8. a gateway node dies during a request loop: egress recovers (fast recovery on, then off)', async (t) => {
    const on = await killServingGateway(lab, pod);
    t.ok(on.outage.after && inPrefix(on.outage.after, prefix), `recovered, egressing from ${on.outage.after}`);
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

  await t.test('9. rolling restart of every gateway daemon with drain', async (t) => {
    const loop = startLoop(lab, pod, 100);
    await until('the loop to succeed', () => loop.samples().filter((s) => s.ok).length >= 5, 60_000);
    for (const g of lab.gateways) {
      await stopGateway(lab, g);
      startGateway(lab, g);
      await until(`${g.computerName} back in rotation`, () => healthyBackends(lab) === 2, 120_000);
    }
    await until('requests to succeed after the roll', () => loop.samples().slice(-10).every((s) => s.ok) && loop.samples().length > 10, 60_000);
    await loop.stop();
    const samples = loop.samples();
    const failed = samples.filter((s) => !s.ok).length;
    t.comment(`rolling restart: ${samples.length} requests, ${failed} failed`);
    t.ok(samples.slice(-10).every((s) => s.ok && inPrefix(s.source ?? '', prefix)), 'after the roll, egress works from the prefix');
    t.ok(failed < samples.length / 2, `the roll never took egress down for long (${failed} of ${samples.length} failed)`);
  });
});
