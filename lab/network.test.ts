import t from 'tap';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExecRunner } from '../lib/exec/runner.ts';
import { ManagedProcess } from '../testenv/kubeapi/process.ts';
import { LabNetwork, type Netns } from './network.ts';
import { DEFAULT_OUTBOUND_IP, ECHO_IP } from './plan.ts';
import { until as waitFor } from '../testenv/wait.ts';
import { Nft } from '../lib/net/nft.ts';
import { readRouterStatus } from './router/daemon.ts';
import { ROUTER_TABLE } from './router/render.ts';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const runner = new ExecRunner();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const FRONTEND = '10.224.0.200';

t.test('lab network: default outbound, public IP NAT, ILB spread and failover', async (t) => {
  const lab = await LabNetwork.create(runner);
  t.teardown(() => lab.destroy());
  const dir = mkdtempSync(join(tmpdir(), 'keg-labnet-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const procs: ManagedProcess[] = [];
  t.teardown(async () => {
    for (const p of procs) await p.stop();
  });
  const start = (ns: Netns, name: string, script: string, args: string[]) => {
    const p = new ManagedProcess(name, join(dir, `${name}.log`));
    p.start(['nsenter', `--net=${ns.path}`, process.execPath, here(script), ...args]);
    procs.push(p);
    return p;
  };

  const gw1 = await lab.addNode('gw1', '10.224.0.4');
  const gw2 = await lab.addNode('gw2', '10.224.0.5');
  const w1 = await lab.addNode('w1', '10.224.0.6');
  const config = join(dir, 'router.json');
  const status = join(dir, 'router-status.json');
  writeFileSync(config, JSON.stringify({
    // Probes time out after one interval (200 ms): on a busy machine a single
    // slow answer must not take a healthy backend out in the middle of a check.
    frontends: [{ ip: FRONTEND, port: 6000, probePort: 8082, probePath: '/gw/test', probeThreshold: 3, backends: [gw1.ip, gw2.ip] }],
    secondaryRoutes: [{ ip: '10.224.0.100', nodeIp: gw1.ip }],
    publicIps: [{ privateIp: '10.224.0.100', publicIp: '20.1.2.3' }],
    probeIntervalMs: 200,
  }));
  start(lab.router, 'router', './router/main.ts', ['--config', config, '--status', status]);
  const echo = start(lab.internet, 'echo', './echo.ts', ['--address', ECHO_IP, '--port', '80']);
  for (const gw of [gw1, gw2]) {
    await lab.in(gw).run(['ip', 'addr', 'add', `${FRONTEND}/32`, 'dev', 'eth0']);
    start(gw, gw.nodeName, './fixtures/ilb-backend.ts', ['--name', gw.nodeName, '--bind', FRONTEND, '--unhealthy-file', join(dir, `${gw.nodeName}.down`)]);
  }
  await lab.in(gw1).run(['ip', 'addr', 'add', '10.224.0.100/32', 'dev', 'eth0']);

  // Readiness, not the first success: the router has loaded its rules (its
  // status file exists only once it forwards) and the echo service listens.
  await waitFor('the router to load its rules and forward', () => readRouterStatus(status) !== undefined, 30_000, 50);
  await waitFor('the echo service to listen', () => echo.logTail().includes('listening'), 30_000, 50);
  const get = async (ns: Netns, extra: string[] = []) => (await lab.in(ns).run([process.execPath, here('./client.ts'), `http://${ECHO_IP}/`, ...extra])).stdout.trim();
  const spread = async () => JSON.parse((await lab.in(w1).run([process.execPath, here('./fixtures/udp-spread.ts'), '--target', FRONTEND, '--flows', '40'])).stdout) as Record<string, number>;
  const health = () => readRouterStatus(status)?.frontends[`${FRONTEND}:6000`];
  const until = async (what: string, cond: () => boolean) => {
    for (let i = 0; !cond(); i++) {
      if (i > 100) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(health())}`);
      await sleep(100);
    }
  };

  t.equal(await get(w1), DEFAULT_OUTBOUND_IP, 'a node egresses from the default outbound IP');
  t.equal(await get(gw1, ['--local-address', '10.224.0.100']), '20.1.2.3', 'a secondary IP egresses from its public IP, 1:1');

  await until('both backends healthy', () => health()?.healthy.length === 2);
  const both = await spread();
  t.equal(both.none, 0, 'every flow answered');
  t.ok((both.gw1 ?? 0) > 0 && (both.gw2 ?? 0) > 0, `flows spread over both backends ${JSON.stringify(both)}`);
  t.same(await spread(), both, 'the same flows land on the same backends (5-tuple hash is stable)');

  writeFileSync(join(dir, 'gw2.down'), '');
  await until('gw2 out of rotation', () => health()?.unhealthy.includes(gw2.ip) === true);
  t.same(await spread(), { none: 0, gw1: 40 }, 'a failed backend\'s flows move to the healthy one');

  writeFileSync(join(dir, 'gw1.down'), '');
  await until('no backend healthy', () => health()?.healthy.length === 0);
  t.same(await spread(), { none: 40 }, 'no healthy backend: traffic is dropped, as the Azure ILB does');

  unlinkSync(join(dir, 'gw1.down'));
  unlinkSync(join(dir, 'gw2.down'));
  await until('both back', () => health()?.healthy.length === 2);
  t.same(await spread(), both, 'recovered backends get their flows back');
});

t.test('the router forwards nothing until its NAT rules are loaded', async (t) => {
  const lab = await LabNetwork.create(runner);
  t.teardown(() => lab.destroy());
  const dir = mkdtempSync(join(tmpdir(), 'keg-labnet-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'router.json');
  const status = join(dir, 'router-status.json');
  // A backend nobody answers for: the first probe round runs into its 2 s
  // timeout before the first apply, which holds the router in its start-up window.
  writeFileSync(config, JSON.stringify({ frontends: [{ ip: FRONTEND, port: 6000, probePort: 8082, probePath: '/gw/x', backends: ['10.224.0.250'] }] }));
  const router = new ManagedProcess('router', join(dir, 'router.log'));
  t.teardown(() => router.stop());
  router.start(['nsenter', `--net=${lab.router.path}`, process.execPath, here('./router/main.ts'), '--config', config, '--status', status]);
  const forwarding = async () => (await lab.in(lab.router).run(['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim() === '1';
  const nft = new Nft(lab.in(lab.router));
  // Read forwarding first, then the table: the table is loaded before
  // forwarding goes on and never removed, so "forwarding without the table"
  // can only be seen if the router forwarded first.
  const seen: string[] = [];
  while (readRouterStatus(status) === undefined) {
    const fwd = await forwarding();
    const rules = (await nft.table('ip', ROUTER_TABLE)) !== undefined;
    seen.push(`forwarding=${fwd} rules=${rules}`);
    if (seen.length > 500) throw new Error(`router never became ready: ${router.logTail()}`);
    await sleep(20);
  }
  t.ok(seen.filter((s) => s === 'forwarding=false rules=false').length >= 5, `sampled the start-up window (${seen.length} samples)`);
  t.same(seen.filter((s) => s === 'forwarding=true rules=false'), [], 'never forwarding while the rules are not loaded');
  t.ok(await forwarding(), 'forwarding once ready');
});

t.test('destroy removes every namespace, also when called twice', async (t) => {
  const lab = await LabNetwork.create(runner);
  await lab.addNode('n1', '10.224.0.9');
  await lab.destroy();
  await lab.destroy();
  const { stdout } = await runner.run(['ip', 'netns', 'list']);
  t.notMatch(stdout, `keg-${lab.id}-`);
});
