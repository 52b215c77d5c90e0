// Issue 11, items 1 and 4 (agent side): when the gateway node a pod's flow
// goes through dies, the node agent points the pod's tunnel straight at the
// surviving gateway node instead of waiting for the load balancer (probing
// every 5 s as Azure's does), also while the apiserver is down; when the API
// returns, the agent follows again without a restart. The outages are
// reported as comments; bench/gateway/failover.ts measures them.
import t from 'tap';
import { haClient, healthyBackends, killServingGateway, tunnelEndpoint } from '../lab/failover.ts';
import { createPod } from '../lab/kubelet.ts';
import type { LabMachine } from '../lab/lab.ts';
import { reviveGatewayNode } from '../lab/parts.ts';
import { inPrefix, waitEgress } from '../lab/scenario.ts';
import { until } from '../testenv/wait.ts';
import { startE2eLab } from './fixture.ts';

/** A request every 100 ms, each given up after 300 ms: a lost request costs no more than that. */
const LOOP = { intervalMs: 100, timeoutMs: 300 };

function hostOf(endpoint: string | null): string | undefined {
  return endpoint?.slice(0, endpoint.lastIndexOf(':'));
}

t.test('agent failover', async (t) => {
  const lab = await startE2eLab(t, { workers: 1, probeIntervalMs: 5_000 });
  const { worker: w, pod, prefix } = await haClient(lab);
  const frontend = await tunnelEndpoint(lab, pod);
  const survivorOf = (victim: LabMachine) => lab.gateways.find((g) => g !== victim) as LabMachine;
  const bothInRotation = () => until('both gateways back in rotation', () => healthyBackends(lab) === 2, 120_000);

  await t.test('1. the serving gateway node dies: the tunnel goes straight to the live one', async (t) => {
    // Usually the load balancer's frontend; a gateway node when a late probe answer on this busy machine
    // looked like a death while the pod's peer was not yet on the gateways (the check then pins it).
    t.comment(`the pod's tunnel before the kill: ${frontend}`);
    const kill = await killServingGateway(lab, pod, LOOP);
    t.equal(hostOf(await tunnelEndpoint(lab, pod)), survivorOf(kill.victim).ip, 'the pod\'s tunnel points at the surviving gateway node');
    t.ok(kill.outage.after && inPrefix(kill.outage.after, prefix), `egress recovered from ${kill.outage.after}`);
    t.comment(`outage with agent failover: ${(kill.outage.ms / 1000).toFixed(2)} s, ${kill.outage.failed} requests failed (ILB probe every 5 s)`);
    await reviveGatewayNode(lab, kill.victim);
    await bothInRotation();
  });

  await t.test('4. with the apiserver down, the agent still fails over; when it returns, it follows again', async (t) => {
    await lab.kube.stopApiServer();
    // The agent's watches notice and back off before the kill.
    await new Promise((r) => setTimeout(r, 3_000));
    const down = await killServingGateway(lab, pod, LOOP);
    t.equal(hostOf(await tunnelEndpoint(lab, pod)), survivorOf(down.victim).ip, 'failed over to the last known live gateway');
    t.ok(down.outage.after && inPrefix(down.outage.after, prefix), `egress recovered from ${down.outage.after}`);
    t.comment(`outage with the apiserver down: ${(down.outage.ms / 1000).toFixed(2)} s, ${down.outage.failed} requests failed`);
    await reviveGatewayNode(lab, down.victim);
    await lab.kube.startApiServer();
    await bothInRotation();

    const again = await killServingGateway(lab, pod, LOOP);
    t.equal(hostOf(await tunnelEndpoint(lab, pod)), survivorOf(again.victim).ip, 'after the API returned, the next failure is failed over too');
    t.comment(`outage after the API returned: ${(again.outage.ms / 1000).toFixed(2)} s, ${again.outage.failed} requests failed`);
    await reviveGatewayNode(lab, again.victim);
    const fresh = await createPod(lab, w, { namespace: 'default', name: 'ha-after', sgc: 'ha' });
    t.ok(inPrefix(await waitEgress(lab, fresh), prefix), 'a pod created after the outage egresses');
  });
});
