import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { main } from './cmd.ts';
import { KEY_SECRET_NAMESPACE } from '../testenv/helm/accounts.ts';
import { OPERATOR_NS, POOL, cloudConfigJson, createSgc, operatorKubeconfig, deleteSgcAndWait, startWorld, waitFor, waitReady, type World } from './testing.ts';
import { freePorts } from '../testenv/kubeapi/ports.ts';

const BIN = fileURLToPath(new URL('./bin.ts', import.meta.url));
const NODE = process.execPath;
const NS = 'default';

interface Child {
  proc: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

function runOperator(t: { teardown: (fn: () => unknown) => void }, args: string[]): Child {
  const proc = spawn(NODE, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  proc.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    return exited;
  });
  return { proc, stderr: () => err, exited };
}

function operatorArgs(w: World, kubeconfig: string, port: number, extra: string[] = []): string[] {
  return ['--cloud-config', w.configPath, '--kubeconfig', kubeconfig, '--metrics-bind-address', `127.0.0.1:${port}`,
    '--namespace', OPERATOR_NS, '--secret-namespace', KEY_SECRET_NAMESPACE, '--azure-poll-interval', '100ms', '--batch-delay', '50ms', ...extra];
}

t.test('usage errors and help', async (t) => {
  t.equal(await main(['--no-such-flag']), 2);
  t.equal(await main(['--help']), 0);
  t.equal(await main(['--vm-requeue-interval', 'soon', '--cloud-config', '/nonexistent']), 2, 'a bad duration is a usage error');
  t.equal(await main(['--leader-election-id', 'Not_A_Lease_Name']), 2);
  t.equal(await main(['--leader-election-namespace', 'a.b']), 2);
  t.equal(await main(['--leader-election-id', '0a299682.microsoft.com', '--cloud-config', '/nonexistent']), 1, "the Go original's Lease name is a valid value");
});

t.test('the operator binary', async (t) => {
  const w = await startWorld(t);
  const { rest } = w.kube;

  await t.test('bad cloud config: a clear error naming the field, exit 1', async (t) => {
    const bad = join(w.dir, 'bad.json');
    const json = cloudConfigJson(w.emu);
    delete json.subscriptionId;
    writeFileSync(bad, JSON.stringify({ ...json, location: 42 }));
    const child = runOperator(t, ['--cloud-config', bad, '--kubeconfig', w.kube.kubeconfigPath, '--metrics-bind-address', '127.0.0.1:0']);
    t.equal(await child.exited, 1);
    t.match(child.stderr(), /subscriptionId/);
    t.match(child.stderr(), /location/);
    t.notMatch(child.stderr(), /test-client-secret-value/, 'the secret is not echoed');
    const missing = runOperator(t, ['--cloud-config', join(w.dir, 'missing.json'), '--kubeconfig', w.kube.kubeconfigPath]);
    t.equal(await missing.exited, 1);
    t.match(missing.stderr(), /CLOUD_CONFIG_UNREADABLE/);
  });

  await t.test('killed during a long-running operation and restarted: converges, no duplicate, no leak', async (t) => {
    const start = Object.keys(w.emu.inventory()).sort();
    // As the shipped ServiceAccount: its RBAC must be enough for create, crash recovery and delete.
    const kubeconfig = await operatorKubeconfig(w);
    w.emu.setLroPolls(30);
    const [port] = (await freePorts(1)) as [number];
    const first = runOperator(t, operatorArgs(w, kubeconfig, port, ['--leader-elect']));
    await createSgc(rest, NS, 'crashy', { gatewayNodepoolName: POOL });
    await waitFor('an LRO in flight', async () => w.emu.requests().some((r) => r.method === 'PUT' && r.operation.includes('loadBalancers') && r.status < 300), 30_000);
    first.proc.kill('SIGKILL');
    await first.exited;
    w.emu.setLroPolls(2);
    const second = runOperator(t, operatorArgs(w, kubeconfig, port, ['--leader-elect']));
    const sgc = await waitReady(rest, NS, 'crashy', 'True', 90_000);
    t.ok(sgc.status?.gatewayServerProfile?.ip, `Ready after restart: ${sgc.status?.gatewayServerProfile?.ip ?? ''}`);
    t.equal(sgc.status?.gatewayServerProfile?.privateKeySecretRef?.namespace, KEY_SECRET_NAMESPACE, 'the key Secret is in --secret-namespace');
    const inv = w.emu.inventory();
    const created = Object.keys(inv).filter((id) => !start.includes(id));
    t.equal(created.filter((id) => id.includes('/publicipprefixes/')).length, 1, 'one managed prefix');
    t.equal(created.filter((id) => id.endsWith('/loadbalancers/kubeegressgateway-ilb')).length, 1, 'one ILB');
    const lb = inv[created.find((id) => id.includes('/loadbalancers/'))!] as { properties: { frontendIPConfigurations: unknown[]; loadBalancingRules: unknown[] } };
    t.equal(lb.properties.frontendIPConfigurations.length, 1, 'one frontend');
    t.equal(lb.properties.loadBalancingRules.length, 1, 'one rule');

    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    t.equal(health.status, 200);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    t.equal(ready.status, 200);
    t.match(await ready.text(), /\[\+\]leader-or-standby ok\n\[\+\]informers-synced ok\n/, 'the leader: lease held, caches synced');
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    t.match(metrics, /keg_operator_arm_requests_total\{operation="GET virtualMachineScaleSets"/);
    t.match(metrics, /keg_operator_reconcile_total/);
    const lease = await rest.get<{ spec: { holderIdentity: string } }>(resourcePath(CORE.leases, OPERATOR_NS, 'kube-egress-gateway-operator'));
    t.ok(lease.spec.holderIdentity, 'holds the leader Lease');

    await deleteSgcAndWait(rest, NS, 'crashy', 90_000);
    t.same(Object.keys(w.emu.inventory()).sort(), start, 'nothing leaked');
    second.proc.kill('SIGTERM');
    t.equal(await second.exited, 0, 'graceful shutdown exits 0');
    t.match(second.stderr(), /"msg":"stopped"/);
    t.notMatch(second.stderr(), /forbidden/i, 'no RBAC denial on the way');
  });

  await t.test('the lease lost to an API outage: the operator stays up, campaigns again and reconciles when the API returns', async (t) => {
    const [port] = (await freePorts(1)) as [number];
    const child = runOperator(t, operatorArgs(w, await operatorKubeconfig(w), port, ['--leader-elect']));
    await waitFor('the lease held', async () => /became leader/.test(child.stderr()), 30_000);
    await w.kube.stopApiServer();
    await waitFor('the lease lost at the renew deadline', async () => /stopped leading/.test(child.stderr()), 30_000);
    // Past the lease duration too: long enough to see an exit or a second term started without the API.
    await new Promise((r) => setTimeout(r, 6_000));
    t.equal(child.proc.exitCode, null, 'still running');
    t.equal(child.stderr().split('became leader').length - 1, 1, 'no term without the API');
    await w.kube.startApiServer();
    await waitFor('a new term', async () => child.stderr().split('became leader').length - 1 === 2, 30_000);
    await createSgc(rest, NS, 'after-outage', { gatewayNodepoolName: POOL });
    t.ok((await waitReady(rest, NS, 'after-outage', 'True', 90_000)).status?.gatewayServerProfile?.ip, 'the new term reconciles');
    await deleteSgcAndWait(rest, NS, 'after-outage', 90_000);
    child.proc.kill('SIGTERM');
    t.equal(await child.exited, 0, 'graceful shutdown exits 0');
  });
});
