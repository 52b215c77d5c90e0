// The agent's /healthz and /readyz (the chart's probes): live while the
// plugin's socket is served, ready once the plugin is also chained. Needs root.
import t from 'tap';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAgent } from '../../testenv/cni/agent.ts';
import { createNode } from '../../testenv/cni/cluster.ts';
import { CniLab } from '../../testenv/cni/lab.ts';
import { startTestKube } from '../../testenv/kubeapi/index.ts';
import { freePorts } from '../../testenv/kubeapi/ports.ts';
import { until } from '../../testenv/wait.ts';

async function probe(port: number, path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, text: await res.text() };
}

t.test('ready only once chained; live only while the socket is served', async (t) => {
  const kube = await startTestKube(t);
  const lab = await CniLab.create(t, { subnetOctet: 84, chained: false });
  await createNode(kube.rest, 'node-h', lab.subnet);
  const [port] = (await freePorts(1)) as [number];
  await startAgent(t, lab, kube, 'node-h', [`--metrics-bind-address=127.0.0.1:${port}`], true);

  // The socket comes up first; the ops server right after it.
  const unready = await until('the ops server', () => probe(port, '/readyz').catch(() => undefined), 10_000, 50);
  t.equal(unready.status, 503, 'no primary network yet: nothing to chain into');
  t.match(unready.text, /\[\+\]socket-serving ok\n\[-\]cni-chained failed\n/);
  t.equal((await probe(port, '/healthz')).status, 200, 'but alive');

  const primary = lab.primaryFile('kubenet', '1.0.0');
  writeFileSync(join(lab.confDir, primary.name), JSON.stringify(primary.content));
  await until('ready once chained', async () => (await probe(port, '/readyz')).status === 200, 15_000, 100);

  rmSync(lab.socket);
  const dead = await probe(port, '/healthz');
  t.equal(dead.status, 503, 'a deleted socket strands every plugin call: restart');
  t.match(dead.text, /\[-\]socket-serving failed/);
  t.equal((await probe(port, '/readyz')).status, 503);
});
