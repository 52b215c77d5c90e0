// The agent answers ADD and DEL within its deadline, under the plugin's
// client timeout, even when the API stalls; an ADD that gets through after
// the plugin has its answer undoes itself, and a DEL that follows it waits
// for it, so no record, link or PodEndpoint is left behind.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { KINDS } from '../../lib/api/constants.ts';
import { RESOURCES } from '../../lib/api/resources.ts';
import { ExecRunner, inNetns } from '../../lib/exec/runner.ts';
import { resourcePath } from '../../lib/kube/paths.ts';
import { isNotFound, KubeRest, type RequestOpts } from '../../lib/kube/rest.ts';
import { createRegistry } from '../../lib/metrics.ts';
import { silentLogger } from '../../lib/log.ts';
import { generatePrivateKey } from '../../lib/wireguard/keys.ts';
import { WgLinks } from '../../lib/wireguard/link.ts';
import { createNode, createPod, createSgc, ensureNamespace, setSgcStatus } from '../../testenv/cni/cluster.ts';
import { CniLab } from '../../testenv/cni/lab.ts';
import { startTestKube } from '../../testenv/kubeapi/index.ts';
import { tempNetns } from '../../testenv/netns.ts';
import { until } from '../../testenv/wait.ts';
import { AgentClient } from '../plugin/client.ts';
import { ResultSchema } from '../plugin/spec.ts';
import { LinkPool } from '../podnet/pool.ts';
import { AddCache } from './cache.ts';
import { Exclusions } from './exclusions.ts';
import { agentMetrics } from './metrics.ts';
import { podStore } from './pods.ts';
import { serveSocket } from './server.ts';
import { CniService } from './service.ts';

const NS = 'ns-d';
const DEADLINE_MS = 1_500;

/** The real apiserver, with PodEndpoint creation held back while `stalled`: a slow API at the worst moment. */
class StallingRest extends KubeRest {
  stalled = false;
  override async create<T = unknown>(path: string, body: unknown, opts?: RequestOpts): Promise<T> {
    while (this.stalled && path.includes('/podendpoints')) await new Promise((r) => setTimeout(r, 50));
    return super.create<T>(path, body, opts);
  }
}

t.test('a stalled ADD is answered with code 11 by the deadline and undoes itself when it gets through', async (t) => {
  const kube = await startTestKube(t);
  const lab = await CniLab.create(t, { subnetOctet: 87 });
  await ensureNamespace(kube.rest, NS);
  await createNode(kube.rest, 'node-d', lab.subnet);
  const sgc = await createSgc(kube.rest, NS, 'egress');
  await setSgcStatus(kube.rest, NS, 'egress', sgc.generation, { ip: '192.168.210.1', port: 6001, publicKey: generatePrivateKey().publicKey() });
  await createPod(kube.rest, NS, 'slow', 'egress');

  const dir = mkdtempSync(join(tmpdir(), 'keg-deadline-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const rest = new StallingRest(kube.kubeConfig);
  const runner = inNetns(new ExecRunner(), lab.node.path);
  const pods = podStore(join(dir, 'state'));
  const log = silentLogger;
  const exclusions = new Exclusions({ rest, own: [], log });
  exclusions.start();
  t.teardown(() => exclusions.stop());
  await exclusions.get();
  const links = new WgLinks(runner);
  const pool = new LinkPool({ links, size: 0, dir: join(dir, 'spares'), log });
  const cache = new AddCache({ rest, log, nodeName: 'node-d' });
  const service = new CniService({ rest, cache, exclusions, pods, net: { runner, links }, pool, log, deadlineMs: DEADLINE_MS });
  const server = await serveSocket(join(dir, 'cni.sock'), service, agentMetrics(createRegistry('test', { processMetrics: false })), log);
  t.teardown(() => server.close());
  const client = new AgentClient(join(dir, 'cni.sock'));

  const podNs = await tempNetns(t, 'pod');
  const primary = await lab.cnitool('add', podNs.path, {}, lab.primaryNet);
  t.teardown(() => lab.cnitool('del', podNs.path, {}, lab.primaryNet));
  const podIp = ResultSchema.parse(JSON.parse(primary.stdout)).ips?.[0]?.address.split('/')[0] as string;
  const req = (containerId: string) => ({
    containerId, network: 'keg', ifname: 'eth0', netns: podNs.path, pod: { namespace: NS, name: 'slow' }, staticGatewayConfiguration: 'egress', podIpAddress: `${podIp}/32`,
  });
  const endpoint = resourcePath(RESOURCES[KINDS.PodEndpoint], NS, 'slow');
  const endpointExists = () => kube.rest.get(endpoint).then(() => true, (err: unknown) => (isNotFound(err) ? false : Promise.reject(err)));

  rest.stalled = true;
  const started = performance.now();
  await t.rejects(client.add(req('late')), { cniCode: 11, message: /ADD of container late did not finish within 1500 ms/ }, 'ADD: code 11, not the plugin\'s own timeout');
  t.ok(performance.now() - started < DEADLINE_MS + 1_000, 'answered by the deadline');
  const hostLink = pods.read('late')?.hostLink;
  t.ok(hostLink, 'the ADD is still under way (its record is written)');
  await t.rejects(client.del({ containerId: 'late' }), { cniCode: 11, message: /DEL of container late/ }, 'the plugin\'s DEL waits for that ADD, by the deadline too');

  rest.stalled = false;
  await until('the late ADD to undo itself', () => pods.read('late') === undefined, 10_000, 100);
  t.notOk(await endpointExists(), 'its PodEndpoint is deleted');
  t.notOk(await runner.run(['ip', 'link', 'show', hostLink ?? 'none']).then(() => true, () => false), 'no host link is left');
  t.notOk(await inNetns(new ExecRunner(), podNs.path).run(['ip', 'link', 'show', 'wg0']).then(() => true, () => false), 'the pod is not wired');

  t.match(await client.add(req('prompt')), { interface: 'wg0' }, 'an ADD within the deadline wires the pod');
  t.ok(await endpointExists());
  await client.del({ containerId: 'prompt' });
  t.equal(pods.list().length, 0);
});
