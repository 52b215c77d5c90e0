// Egress with real nodes: containerd, not the kubelet stand-in, runs the node's CNI chain with
// kube-egress-cni chained by the node agent, for a real Pod from the local test image.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { POD_SGC_ANNOTATION } from '../lib/api/constants.ts';
import { createLogger } from '../lib/log.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { TEST_IMAGE } from '../testenv/realnode/images.ts';
import { until } from '../testenv/wait.ts';
import { Lab } from '../lab/lab.ts';
import { leftovers } from '../lab/leftovers.ts';
import { startAgent, startGateway, startOperator } from '../lab/parts.ts';
import { ECHO_IP, ECHO_PORT } from '../lab/plan.ts';
import { applySgc, inPrefix, waitSgcReady } from '../lab/scenario.ts';

t.test('real nodes: containerd runs the chain and an annotated Pod egresses from the gateway prefix', async (t) => {
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

  const created = await lab.kube.rest.create<{ metadata: { uid: string } }>(resourcePath(CORE.pods, 'default'), {
    metadata: { name: 'annotated', annotations: { [POD_SGC_ANNOTATION]: 'sgc-a' } },
    spec: {
      nodeSelector: { 'kubernetes.azure.com/agentpool': worker.pool },
      terminationGracePeriodSeconds: 1,
      containers: [{
        name: 'app', image: TEST_IMAGE, imagePullPolicy: 'Never',
        // The tunnel needs a moment after the pod starts: ask the echo every second.
        command: ['/bin/sh', '-c', `while true; do (printf 'GET / HTTP/1.0\\r\\n\\r\\n'; sleep 2) | nc -w 3 ${ECHO_IP} ${ECHO_PORT} | tail -n 1; sleep 1; done`],
      }],
    },
  });
  const log = join(node.dir, 'pod-logs', `default_annotated_${created.metadata.uid}`, 'app', '0.log');
  const seen = await until(`the pod to egress from ${prefix}`, () => {
    const ips = existsSync(log) ? [...readFileSync(log, 'utf8').matchAll(/ stdout F (\d+\.\d+\.\d+\.\d+)$/gm)].map((m) => m[1] as string) : [];
    return ips.find((ip) => inPrefix(ip, prefix));
  }, 90_000);
  t.ok(inPrefix(seen, prefix), `the annotated pod egresses from ${seen}, inside ${prefix}`);
  stopped = true;
  await lab.stop();
  t.same(leftovers(lab), [], 'no process, cgroup or namespace left');
});
