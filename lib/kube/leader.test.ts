import t from 'tap';
import { spawn } from 'node:child_process';
import { createConnection, createServer, type Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeRest } from './rest.ts';
import type { Teardown } from '../../testenv/netns.ts';
import { fileURLToPath } from 'node:url';
import { startTestKube, type TestKube } from '../../testenv/kubeapi/index.ts';
import { createLogger, silentLogger } from '../log.ts';
import { LeaderElector } from './leader.ts';
import { CORE, resourcePath } from './paths.ts';

const NS = 'default';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<number> {
  const started = Date.now();
  while (!cond()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
  return Date.now() - started;
}

function candidate(kube: TestKube, lease: string, identity: string, leaseDurationMs = 2_000, rest = kube.rest) {
  const events: string[] = [];
  const elector = new LeaderElector({
    rest, log: process.env.LEADER_DEBUG ? createLogger({ level: "debug" }) : silentLogger, namespace: NS, name: lease, identity,
    leaseDurationMs, renewDeadlineMs: leaseDurationMs * 0.75, retryPeriodMs: 100,
    onStartedLeading: () => events.push('start'),
    onStoppedLeading: () => events.push('stop'),
  });
  return { elector, events };
}

t.test('leader election on a real Lease', async (t) => {
  const kube = await startTestKube(t, { crds: false });

  await t.test('of three simultaneous candidates exactly one leads', async (t) => {
    const cs = ['a', 'b', 'c'].map((id) => candidate(kube, 'race', id));
    cs.forEach((c) => c.elector.start());
    await until('a leader', () => cs.some((c) => c.elector.isLeader));
    await sleep(1_000);
    t.equal(cs.filter((c) => c.elector.isLeader).length, 1);
    for (const c of cs) await c.elector.stop();
  });

  await t.test('a graceful stop releases the lease; the follower takes over at once', async (t) => {
    const a = candidate(kube, 'handover', 'a', 10_000);
    const b = candidate(kube, 'handover', 'b', 10_000);
    t.equal(b.elector.role, 'candidate', 'no leader known before the first look');
    a.elector.start();
    await until('a leads', () => a.elector.isLeader);
    b.elector.start();
    await sleep(500);
    t.notOk(b.elector.isLeader, 'b waits while a renews');
    t.same([a.elector.role, b.elector.role], ['leader', 'standby'], 'the operator\'s /readyz: both ready');
    await a.elector.stop();
    t.same(a.events, ['start', 'stop']);
    const took = await until('b leads', () => b.elector.isLeader);
    t.ok(took < 5_000, `b took over in ${took} ms, well before the 10 s lease would expire`);
    const lease = await kube.rest.get<{ spec: { holderIdentity: string; leaseTransitions: number } }>(resourcePath(CORE.leases, NS, 'handover'));
    t.equal(lease.spec.holderIdentity, 'b');
    t.equal(lease.spec.leaseTransitions, 1);
    await b.elector.stop();
  });

  await t.test('a Lease released by client-go (controller-runtime on shutdown) is taken at once, fields kept', async (t) => {
    // What client-go writes on release: empty holder, duration 1 s, transitions kept.
    const released = new Date().toISOString().replace('Z', '000Z');
    await kube.rest.create(resourcePath(CORE.leases, NS), {
      metadata: { name: '0a299682.microsoft.com', namespace: NS },
      spec: { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: released, renewTime: released, leaseTransitions: 7 },
    });
    const ours = candidate(kube, '0a299682.microsoft.com', 'ours', 10_000);
    ours.elector.start();
    const took = await until('ours leads', () => ours.elector.isLeader);
    t.ok(took < 1_000, `taken in ${took} ms, without waiting for any duration`);
    const lease = await kube.rest.get<{ spec: Record<string, unknown> }>(resourcePath(CORE.leases, NS, '0a299682.microsoft.com'));
    t.match(lease.spec, { holderIdentity: 'ours', leaseDurationSeconds: 10, leaseTransitions: 8 });
    await ours.elector.stop();
  });

  await t.test('a crashed leader is replaced only after its lease expires', async (t) => {
    const script = fileURLToPath(new URL('../../testenv/fixtures/lease-holder.ts', import.meta.url));
    const child = spawn(process.execPath, [script, kube.kubeconfigPath, NS, 'crash', 'doomed', '2000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.teardown(() => child.kill('SIGKILL'));
    await new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => d.toString().includes('leading') && resolve()));
    const survivor = candidate(kube, 'crash', 'survivor');
    survivor.elector.start();
    await sleep(300);
    child.kill('SIGKILL');
    const killedAt = Date.now();
    await until('survivor leads', () => survivor.elector.isLeader);
    const waited = Date.now() - killedAt;
    t.ok(waited >= 1_500, `survivor respected the 2 s lease (${waited} ms after the kill)`);
    await survivor.elector.stop();
  });

  await t.test('a leader that cannot reach the API steps down after the renew deadline', async (t) => {
    const a = candidate(kube, 'outage', 'a');
    a.elector.start();
    await until('a leads', () => a.elector.isLeader);
    const outageStart = Date.now();
    await kube.stopApiServer();
    await until('a steps down', () => a.events.includes('stop'));
    const took = Date.now() - outageStart;
    t.ok(took >= 1_400 && took <= 4_000, `stepped down ${took} ms into the outage (deadline 1.5 s)`);
    t.notOk(a.elector.isLeader);
    await a.elector.stop();
    await kube.startApiServer();
  });
});

/**
 * A loopback TCP proxy to the apiserver that can stall: it then stops
 * relaying on open connections and holds new ones, as a hung apiserver
 * (or a black-holed network path) would. Closed in teardown.
 */
async function stallingProxy(t: Teardown, kube: TestKube) {
  const upstream = new URL(kube.server);
  const sockets = new Set<Socket>();
  let stalled = false;
  const server = createServer((client) => {
    sockets.add(client);
    client.on('error', () => undefined);
    if (stalled) return;
    const up = createConnection({ host: upstream.hostname, port: Number(upstream.port) });
    sockets.add(up);
    up.on('error', () => client.destroy());
    client.on('data', (d) => !stalled && up.write(d));
    up.on('data', (d) => !stalled && client.write(d));
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const { port } = server.address() as { port: number };
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: kube.kubeConfig.clusters.map((c) => ({ ...c, server: `https://127.0.0.1:${port}` })),
    users: kube.kubeConfig.users, contexts: kube.kubeConfig.contexts, currentContext: kube.kubeConfig.currentContext,
  });
  return { rest: new KubeRest(kc), stall: () => (stalled = true) };
}

t.test('a leader whose lease calls hang steps down by the renew deadline, before a successor can take over', async (t) => {
  const kube = await startTestKube(t, { crds: false });
  const proxy = await stallingProxy(t, kube);
  const a = candidate(kube, 'hang', 'a', 3_000, proxy.rest);
  a.elector.start();
  t.teardown(() => a.elector.stop());
  await until('a leads', () => a.elector.isLeader);
  const b = candidate(kube, 'hang', 'b', 3_000);
  b.elector.start();
  t.teardown(() => b.elector.stop());
  let overlap = false;
  const watch = setInterval(() => (overlap ||= a.elector.isLeader && b.elector.isLeader), 10);
  t.teardown(() => clearInterval(watch));
  proxy.stall();
  const stalledAt = Date.now();
  await until('a steps down', () => a.events.includes('stop'), 6_000);
  const took = Date.now() - stalledAt;
  t.ok(took < 3_000, `stepped down ${took} ms into the stall: by the renew deadline (2.25 s), before the 3 s lease ends`);
  await until('b leads', () => b.elector.isLeader, 10_000);
  t.notOk(overlap, 'never two leaders at once');
  const stoppedAt = Date.now();
  await a.elector.stop();
  t.ok(Date.now() - stoppedAt < 3_000, 'stop is bounded too, the apiserver still stalled');
});
