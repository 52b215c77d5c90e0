import t, { type Test } from 'tap';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { startTestKube } from '../../testenv/kubeapi/index.ts';
import { createLogger, silentLogger } from '../log.ts';
import { BOOKMARK_INTERVAL_MS, Informer } from './informer.ts';
import { KubeRest } from './rest.ts';
import { CORE, resourcePath, type ResourceType } from './paths.ts';

interface ConfigMap {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  data?: Record<string, string>;
}

const configMaps: ResourceType = { group: '', version: 'v1', plural: 'configmaps', namespaced: true };
const NS = 'informer-test';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Records events as "verb name[=value]" lines, in order. */
const label = (cm: ConfigMap) => `${cm.metadata.name}${cm.data?.v ? `=${cm.data.v}` : ''}`;

function recorder() {
  const events: string[] = [];
  return {
    events,
    handler: {
      add: (cm: ConfigMap) => events.push(`add ${label(cm)}`),
      update: (cm: ConfigMap, old: ConfigMap) => events.push(cm === old ? `resync ${label(cm)}` : `update ${label(cm)}`),
      delete: (cm: ConfigMap) => events.push(`delete ${label(cm)}`),
    },
    async waitFor(line: string, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!events.includes(line)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for "${line}"; got ${JSON.stringify(events)}`);
        await sleep(20);
      }
    },
  };
}

t.test('informer against a real apiserver', async (t) => {
  const kube = await startTestKube(t, { crds: false });
  const rest = kube.rest;
  await rest.create(resourcePath(CORE.namespaces), { metadata: { name: NS } });
  const cmPath = (name?: string) => resourcePath(configMaps, NS, name);
  const put = (name: string, v: string) => rest.create(cmPath(), { metadata: { name }, data: { v } });
  const set = (name: string, v: string) => rest.patch(cmPath(name), { data: { v } });

  await put('a', '1');
  await put('c', '1');
  await put('bad', 'x');

  const rec = recorder();
  const warnings: string[] = [];
  const informer = new Informer<ConfigMap>({
    rest, type: configMaps, namespace: NS,
    log: createLogger({ level: 'warn', write: (l) => warnings.push(l) }),
    // The apiserver restart must fall inside one backoff, so that the changes
    // below happen while the informer is disconnected.
    backoffBaseMs: 4_000, backoffMaxMs: 4_000, resyncMs: 0,
    parse: (obj) => {
      const cm = obj as ConfigMap;
      if (cm.metadata.name === 'bad') throw new Error('schema says no');
      return cm;
    },
  }).on(rec.handler);
  t.teardown(() => informer.stop());

  await informer.start();
  t.same(rec.events.sort(), ['add a=1', 'add c=1'], 'initial list delivered as adds; the invalid object is skipped');
  t.match(warnings.join('\n'), /"name":"bad".*schema says no.*does not match its schema/);
  t.equal(informer.get(NS, 'a')?.data?.v, '1');
  rec.events.length = 0;

  await set('a', '2');
  await rec.waitFor('update a=2');

  await kube.stopApiServer();
  await sleep(300); // the watch notices the dead connection and backs off
  await kube.startApiServer();
  // Changed while the informer is disconnected.
  await set('a', '3');
  await put('b', '1');
  await rest.delete(cmPath('c'));
  await rec.waitFor('update a=3');
  await rec.waitFor('add b=1');
  await rec.waitFor('delete c=1');
  t.pass('relist after the outage delivered the missed update, add and delete');
  t.match(warnings.join('\n'), /list\/watch failed; restarting/);

  // And the watch is live again.
  await put('d', '1');
  await rec.waitFor('add d=1');
  await rest.delete(cmPath('d'));
  await rec.waitFor('delete d=1');
  t.same(informer.list().map((cm) => cm.metadata.name).sort(), ['a', 'b']);
  t.same(rec.events, ['update a=2', 'update a=3', 'add b=1', 'delete c=1', 'add d=1', 'delete d=1'], 'each change exactly once, in order');
});

t.test('periodic resync re-delivers cached objects; a throwing handler does not stop others', async (t) => {
  const kube = await startTestKube(t, { crds: false });
  await kube.rest.create(resourcePath(CORE.namespaces), { metadata: { name: NS } });
  await kube.rest.create(resourcePath(configMaps, NS), { metadata: { name: 'r' }, data: { v: '1' } });
  const rec = recorder();
  const errors: string[] = [];
  const informer = new Informer<ConfigMap>({
    rest: kube.rest, type: configMaps, namespace: NS, resyncMs: 100, parse: (o) => o as ConfigMap,
    log: createLogger({ level: 'error', write: (l) => errors.push(l) }),
    watchTimeoutSeconds: 1, // the server ends the watch each second; it must resume without events
  })
    .on({ add: () => { throw new Error('handler bug'); } })
    .on(rec.handler);
  t.teardown(() => informer.stop());
  await informer.start();
  await rec.waitFor('add r=1');
  await rec.waitFor('resync r=1');
  await sleep(2_500);
  t.notOk(rec.events.some((e) => e.startsWith('add r') && e !== rec.events[0]), 'no duplicate adds across watch restarts');
  t.match(errors.join('\n'), /handler bug.*event handler threw/);
});

t.test('stop during backoff returns promptly', async (t) => {
  const kube = await startTestKube(t, { crds: false });
  const informer = new Informer<ConfigMap>({
    rest: kube.rest, type: configMaps, namespace: NS, log: silentLogger, parse: (o) => o as ConfigMap, backoffBaseMs: 60_000,
  });
  await informer.start();
  await kube.stopApiServer();
  await sleep(300);
  const started = Date.now();
  await informer.stop();
  t.ok(Date.now() - started < 2_000, 'did not wait out the 60 s backoff');
});

t.test('a deletion whose final state fails the schema still removes the cached object', async (t) => {
  const kube = await startTestKube(t, { crds: false });
  await kube.rest.create(resourcePath(CORE.namespaces), { metadata: { name: NS } });
  const cmPath = (name?: string) => resourcePath(configMaps, NS, name);
  await kube.rest.create(cmPath(), { metadata: { name: 'e' }, data: { v: '1' } });
  const rec = recorder();
  const informer = new Informer<ConfigMap>({
    rest: kube.rest, type: configMaps, namespace: NS, log: silentLogger, resyncMs: 0,
    parse: (obj) => {
      const cm = obj as ConfigMap;
      if (cm.data?.v === 'bad') throw new Error('schema says no');
      return cm;
    },
  }).on(rec.handler);
  t.teardown(() => informer.stop());
  await informer.start();
  await rec.waitFor('add e=1');
  // The object turns invalid (ignored; the last good state stays cached), then is deleted.
  await kube.rest.patch(cmPath('e'), { data: { v: 'bad' } });
  await kube.rest.delete(cmPath('e'));
  await rec.waitFor('delete e=1');
  t.equal(informer.get(NS, 'e'), undefined, 'no stale entry');
  t.same(rec.events, ['add e=1', 'delete e=1']);
});

t.test('an API server unreachable for several attempts is logged as an error, seen at --log-level error', async (t) => {
  const kc = new KubeConfig();
  kc.loadFromOptions({ clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: true }], users: [{ name: 'u', token: 'x' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
  const errors: Record<string, unknown>[] = [];
  const informer = new Informer<ConfigMap>({
    rest: new KubeRest(kc), type: configMaps, namespace: NS, resyncMs: 0, backoffBaseMs: 1, backoffMaxMs: 5, parse: (o) => o as ConfigMap,
    log: createLogger({ level: 'error', write: (l) => errors.push(JSON.parse(l) as Record<string, unknown>) }),
  });
  t.teardown(() => informer.stop());
  void informer.start().catch(() => {});
  for (let i = 0; i < 200 && errors.length === 0; i++) await sleep(10);
  t.match(errors[0], { level: 50, msg: 'list/watch failed; restarting', attempt: 5, err: { code: 'KUBE_UNREACHABLE', cause: { code: 'ECONNREFUSED' } } });
});

/**
 * A loopback TCP relay to the apiserver whose open connections can be made
 * silent (bytes swallowed both ways, sockets kept open): a watch dropped by a
 * middlebox or a dead peer, which neither end is told about.
 */
async function silenceableRelay(t: Test, target: URL): Promise<{ url: string; silence: () => void }> {
  const open = new Set<Socket>();
  const sockets: Socket[] = [];
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    open.add(client);
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      a.on('data', (d) => { if (open.has(client)) b.write(d); });
      a.on('error', () => b.destroy());
      a.on('close', () => b.destroy());
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    for (const s of sockets) s.destroy();
  }));
  server.on('connection', (s) => sockets.push(s));
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, silence: () => open.clear() };
}

t.test('a silently dropped watch is noticed by its idle timeout and the change is delivered', async (t) => {
  const kube = await startTestKube(t, { crds: false });
  await kube.rest.create(resourcePath(CORE.namespaces), { metadata: { name: NS } });
  const relay = await silenceableRelay(t, new URL(kube.server));
  const kc = new KubeConfig();
  kc.loadFromString(kube.kubeConfig.exportConfig());
  const cluster = kc.getCurrentCluster();
  kc.clusters = kc.clusters.map((c) => (c.name === cluster?.name ? { ...c, server: relay.url } : c));
  const warnings: string[] = [];
  const rec = recorder();
  const informer = new Informer<ConfigMap>({
    rest: new KubeRest(kc), type: configMaps, namespace: NS, resyncMs: 0, idleTimeoutMs: 1_500, backoffBaseMs: 100,
    log: createLogger({ level: 'warn', write: (l) => warnings.push(l) }), parse: (o) => o as ConfigMap,
  }).on(rec.handler);
  t.teardown(() => informer.stop());
  await informer.start();
  // Let the watch connect through the relay, then make it silent.
  await sleep(500);
  relay.silence();
  await kube.rest.create(resourcePath(configMaps, NS), { metadata: { name: 'late' }, data: { v: '1' } });
  await rec.waitFor('add late=1');
  t.ok(warnings.some((w) => w.includes('no data for 1500 ms')), 'the dead watch was noticed by the idle timeout, then relisted');
});

t.test('the default idle timeout is twice the bookmark interval', async (t) => {
  t.equal(BOOKMARK_INTERVAL_MS, 60_000);
  const kube = await startTestKube(t, { crds: false });
  const seen: number[] = [];
  const rest = kube.rest;
  const watch = rest.watch.bind(rest);
  rest.watch = (path, query, onEvent, signal, idleMs) => {
    seen.push(idleMs);
    return watch(path, query, onEvent, signal, idleMs);
  };
  const informer = new Informer<ConfigMap>({ rest, type: configMaps, namespace: NS, log: silentLogger, parse: (o) => o as ConfigMap, resyncMs: 0 });
  t.teardown(() => informer.stop());
  await informer.start();
  await sleep(300);
  t.same(seen, [120_000]);
});
