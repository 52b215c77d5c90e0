// Egress with real nodes: containerd, not the kubelet stand-in, runs the node's CNI chain with
// kube-egress-cni chained by the node agent, for a real Pod from the local test image.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { POD_SGC_ANNOTATION } from '../lib/api/constants.ts';
import { createLogger } from '../lib/log.ts';
import { until } from '../testenv/wait.ts';
import { Lab } from '../lab/lab.ts';
import { leftovers } from '../lab/leftovers.ts';
import { startAgent, startGateway, startOperator } from '../lab/parts.ts';
import { DEFAULT_OUTBOUND_IP } from '../lab/plan.ts';
import { ECHO_LOOP, createRealPod, echoedAddresses } from '../lab/realpod.ts';
import { applySgc, inPrefix, waitSgcReady } from '../lab/scenario.ts';

t.test('real nodes: containerd runs the chain; an annotated Pod egresses from the gateway prefix, a plain Pod does not', async (t) => {
  // 1.0.0 until the plugin serves 0.3.0 (Azure CNI's version; the cni-versions work adds it).
  const lab = await Lab.start({ log: createLogger({ level: 'warn' }), gateways: 1, workers: 1, realNodes: true, primaryCniVersion: '1.0.0', probeIntervalMs: 2_000, keepDir: process.env.KEG_E2E_KEEP === '1' });
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await lab.stop();
  });
  const worker = lab.workers[0];
  const node = lab.realNodes.find((n) => n.m.computerName === worker?.computerName);
  if (!worker || !node) throw new Error('lab without a worker');
  await startOperator(lab);
  for (const g of lab.gateways) startGateway(lab, g);
  await startAgent(lab, worker);
  await applySgc(lab, 'default', 'sgc-a', { gatewayNodepoolName: 'gwpool' });
  const prefix = (await waitSgcReady(lab, 'default', 'sgc-a')).status?.egressIpPrefix as string;
  await until('the agent to chain itself into the node\'s conflist', () => readFileSync(join(node.cniDirs.confDir, '10-lab-pods.conflist'), 'utf8').includes('kube-egress'), 60_000);

  const annotated = await createRealPod(lab.kube.rest, node, { namespace: 'default', name: 'annotated', annotations: { [POD_SGC_ANNOTATION]: 'sgc-a' }, script: ECHO_LOOP });
  const plain = await createRealPod(lab.kube.rest, node, { namespace: 'default', name: 'plain', script: ECHO_LOOP });
  // The tunnel needs a moment after the pod starts: the loop asks every second.
  const seen = await until(`the annotated pod to egress from ${prefix}`, () => echoedAddresses(node, annotated).find((ip) => inPrefix(ip, prefix)), 90_000);
  t.ok(inPrefix(seen, prefix), `the annotated pod egresses from ${seen}, inside ${prefix}`);
  const plainSeen = await until('the plain pod to reach the echo', () => echoedAddresses(node, plain)[0], 30_000);
  t.equal(plainSeen, DEFAULT_OUTBOUND_IP, 'the plain pod egresses from the default outbound IP');
  stopped = true;
  await lab.stop();
  t.same(leftovers(lab), [], 'no process, cgroup or namespace left');
});
