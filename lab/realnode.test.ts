import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { createLogger } from '../lib/log.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { TEST_IMAGE } from '../testenv/realnode/images.ts';
import { Lab } from './lab.ts';
import { DEFAULT_OUTBOUND_IP, ECHO_IP, ECHO_PORT } from './plan.ts';

interface Pod {
  metadata: { uid: string };
  spec: { nodeName?: string; volumes?: { name: string; projected?: unknown }[] };
  status: { phase?: string; podIP?: string };
}

/** What a lab leaves on the host if it does not clean up: processes, cgroups, namespaces. */
function leftovers(lab: Lab): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(lab.dir)) found.push(`process ${pid}`);
    } catch {
      // Gone meanwhile.
    }
  }
  for (const h of readdirSync('/sys/fs/cgroup')) {
    for (const node of lab.realNodes) if (existsSync(join('/sys/fs/cgroup', h, node.cgroupParent))) found.push(`cgroup ${h}${node.cgroupParent}`);
  }
  found.push(...readdirSync('/var/run/netns').filter((n) => n.includes(`-${lab.id}-`)).map((n) => `netns ${n}`));
  return found;
}

t.test('real nodes: kubelets register with AKS labels and taints, and a plain Pod from the local image runs and reaches the internet', async (t) => {
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
        command: ['/bin/sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc ${ECHO_IP} ${ECHO_PORT}; ls /var/run/secrets/kubernetes.io/serviceaccount; exec sleep 3600`],
      }],
      terminationGracePeriodSeconds: 1,
    },
  });
  let pod: Pod | undefined;
  for (let i = 0; i < 240 && pod?.status.phase !== 'Running'; i++) {
    await new Promise((r) => setTimeout(r, 250));
    pod = await lab.kube.rest.get<Pod>(resourcePath(CORE.pods, 'default', 'plain'));
  }
  t.equal(pod?.status.phase, 'Running', 'pod Running');
  t.equal(pod?.spec.nodeName, worker.computerName, 'scheduled onto the worker');
  t.match(pod?.status.podIP, /^10\.244\.0\./, 'address from the worker pod CIDR');
  t.ok(pod?.spec.volumes?.some((v) => v.name.startsWith('kube-api-access-') && v.projected), 'projected ServiceAccount token volume');

  // The apiserver cannot reach kubelets here (they live in the VNet), so the log is read where the kubelet writes it.
  const node = lab.realNodes.find((n) => n.m.computerName === worker.computerName);
  const logDir = join(node?.dir ?? '', 'pod-logs', `default_plain_${pod?.metadata.uid}`, 'app');
  let log = '';
  for (let i = 0; i < 40 && !/token/.test(log); i++) {
    await new Promise((r) => setTimeout(r, 250));
    log = existsSync(join(logDir, '0.log')) ? readFileSync(join(logDir, '0.log'), 'utf8') : '';
  }
  t.match(log, DEFAULT_OUTBOUND_IP, 'the echo saw the VNet default outbound address');
  t.match(log, /ca\.crt[\s\S]*namespace[\s\S]*token/, 'token, namespace and CA mounted');

  stopped = true;
  await lab.stop();
  t.same(leftovers(lab), [], 'no process, cgroup or namespace left');
});
