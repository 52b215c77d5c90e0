import t from 'tap';
import { createLogger } from '../lib/log.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { TEST_IMAGE } from '../testenv/realnode/images.ts';
import { until } from '../testenv/wait.ts';
import { Lab } from './lab.ts';
import { realPodOutput } from './realpod.ts';
import { leftovers } from './leftovers.ts';
import { DEFAULT_OUTBOUND_IP, ECHO_IP, ECHO_PORT } from './plan.ts';

interface Pod {
  metadata: { uid: string };
  spec: { nodeName?: string; volumes?: { name: string; projected?: unknown }[] };
  status: { phase?: string; podIP?: string };
}

t.test('real nodes: kubelets register with AKS labels and taints, a plain Pod from the local image runs and reaches the internet, DaemonSets and GC work, and nothing is left even after a runtime crash', async (t) => {
  const lab = await Lab.start({ log: createLogger({ level: 'warn' }), gateways: 1, workers: 1, realNodes: true, keepDir: process.env.KEG_E2E_KEEP === '1' });
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await lab.stop();
  });
  const [gw, worker] = [lab.gateways[0], lab.workers[0]];
  if (!gw || !worker) throw new Error('lab without nodes');

  const nodes = await lab.kube.rest.get<{ items: { metadata: { name: string; labels: Record<string, string> }; spec: { taints?: { key: string; value: string; effect: string }[] } }[] }>(resourcePath(CORE.nodes));
  const byName = new Map(nodes.items.map((n) => [n.metadata.name, n]));
  t.equal(byName.get(gw.computerName)?.metadata.labels['kubeegressgateway.azure.com/mode'], 'true', 'gateway node labelled');
  t.same(byName.get(gw.computerName)?.spec.taints?.filter((x) => x.key === 'kubeegressgateway.azure.com/mode'), [{ key: 'kubeegressgateway.azure.com/mode', value: 'true', effect: 'NoSchedule' }], 'gateway node tainted');
  t.equal(byName.get(worker.computerName)?.metadata.labels['kubernetes.azure.com/agentpool'], worker.pool, 'worker in its agent pool');
  t.notOk(byName.get(worker.computerName)?.spec.taints?.length, 'worker untainted');

  // Scheduled by kube-scheduler (the gateway's taint keeps it off), with a projected token from the ServiceAccount admission plugin.
  await lab.kube.rest.create(resourcePath(CORE.pods, 'default'), {
    metadata: { name: 'plain' },
    spec: {
      containers: [{
        name: 'app', image: TEST_IMAGE, imagePullPolicy: 'Never',
        command: ['/bin/sh', '-c', [
          // busybox nc may quit at the end of its input before the answer arrives: keep the input open.
          `(printf 'GET / HTTP/1.0\\r\\n\\r\\n'; sleep 3) | nc ${ECHO_IP} ${ECHO_PORT}`,
          // Plain HTTP to the apiserver's TLS port through the Service IP: Go's TLS server answers 400 in plain text.
          '(printf \'GET / HTTP/1.0\\r\\n\\r\\n\'; sleep 3) | nc $KUBERNETES_SERVICE_HOST $KUBERNETES_SERVICE_PORT',
          'ls /var/run/secrets/kubernetes.io/serviceaccount', 'exec sleep 3600'].join('; ')],
      }],
      terminationGracePeriodSeconds: 1,
    },
  });
  const pod = await until('pod plain Running', async () => {
    const p = await lab.kube.rest.get<Pod>(resourcePath(CORE.pods, 'default', 'plain'));
    return p.status.phase === 'Running' && p;
  });
  t.equal(pod.status.phase, 'Running', 'pod Running');
  t.equal(pod.spec.nodeName, worker.computerName, 'scheduled onto the worker');
  t.match(pod.status.podIP, /^10\.244\.0\./, 'address from the worker pod CIDR');
  t.ok(pod.spec.volumes?.some((v) => v.name.startsWith('kube-api-access-') && v.projected), 'projected ServiceAccount token volume');

  // The apiserver cannot reach kubelets here (they live in the VNet), so the log is read where the kubelet writes it.
  const node = lab.realNodes.find((n) => n.m.computerName === worker.computerName);
  if (!node) throw new Error('no real node for the worker');
  const log = await until('the pod\'s output', () => {
    const text = realPodOutput(node, { namespace: 'default', name: 'plain', uid: pod.metadata.uid });
    return /token/.test(text) && text;
  }, 20_000);
  t.match(log, DEFAULT_OUTBOUND_IP, 'the echo saw the VNet default outbound address');
  t.match(log, /ca\.crt[\s\S]*namespace[\s\S]*token/, 'token, namespace and CA mounted');
  t.match(log, /Client sent an HTTP request to an HTTPS server/, 'the apiserver answers at the kubernetes Service address');

  // A DaemonSet that tolerates the gateway taint runs on both nodes; deleting it garbage-collects its pods.
  const ds = '/apis/apps/v1/namespaces/default/daemonsets';
  await lab.kube.rest.create(ds, {
    metadata: { name: 'everywhere' },
    spec: {
      selector: { matchLabels: { app: 'everywhere' } },
      template: {
        metadata: { labels: { app: 'everywhere' } },
        spec: {
          tolerations: [{ key: 'kubeegressgateway.azure.com/mode', operator: 'Exists', effect: 'NoSchedule' }],
          terminationGracePeriodSeconds: 1,
          containers: [{ name: 'app', image: TEST_IMAGE, imagePullPolicy: 'Never', command: ['sleep', '3600'] }],
        },
      },
    },
  });
  const dsPods = async () => (await lab.kube.rest.get<{ items: Pod[] }>(resourcePath(CORE.pods, 'default'), { query: { labelSelector: 'app=everywhere' } })).items;
  await until('a DaemonSet pod Running on each node', async () => (await dsPods()).filter((p) => p.status.phase === 'Running').length === 2);
  t.same((await dsPods()).map((p) => p.spec.nodeName).sort(), [gw.computerName, worker.computerName], 'DaemonSet pod Running on each node');
  await lab.kube.rest.delete(`${ds}/everywhere`);
  await until('the DaemonSet pods gone', async () => (await dsPods()).length === 0);
  t.pass('DaemonSet pods garbage-collected');

  // Teardown must not depend on the runtime being healthy: a crashed containerd leaves its shims and containers behind.
  await lab.procs.kill(`containerd-${worker.computerName}`);
  stopped = true;
  await lab.stop();
  t.same(leftovers(lab), [], 'no process, cgroup or namespace left');
});
