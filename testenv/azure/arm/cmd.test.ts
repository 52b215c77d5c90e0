import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { NetworkManagementClient } from '@azure/arm-network';
import { emulatorClientOptions, emulatorCredential } from './clients.ts';
import { main } from './cmd.ts';
import type { Teardown } from '../../netns.ts';

const CMD = fileURLToPath(new URL('./cmd.ts', import.meta.url));

interface Started {
  child: ChildProcess;
  info: { endpoint: string; caPath: string; subscriptionId: string; tenantId: string };
}

async function startCmd(t: Teardown, args: string[]): Promise<Started> {
  const child = spawn(process.execPath, [CMD, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
  });
  return { child, info: JSON.parse(first) };
}

async function stopCmd(s: Started): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => s.child.once('exit', resolve));
  s.child.kill('SIGTERM');
  return exited;
}

function admin(s: Started, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(`/_emulator/${path}`, s.info.endpoint), { method, ca: readFileSync(s.info.caPath) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
      });
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

t.test('the standalone emulator: seed, admin API, restart with its state', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keg-arm-cmd-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const seed = join(dir, 'seed.json');
  writeFileSync(seed, JSON.stringify({ resourceGroups: ['rg'], vmss: [{ resourceGroup: 'rg', name: 'gw', instances: 2, tags: { 'aks-managed-poolName': 'gw' } }], publicIpPrefixes: [{ resourceGroup: 'rg', name: 'byo', prefixLength: 31 }] }));
  const stateDir = join(dir, 'state');
  const first = await startCmd(t, ['--state-dir', stateDir, '--seed', seed, '--lro-retry-after', '0', '--log-level', 'warn']);
  t.match(first.info, { endpoint: /^https:\/\/127\.0\.0\.1:\d+$/, subscriptionId: /^[-0-9a-f]+$/, tenantId: /^[-0-9a-f]+$/ });
  const caPem = readFileSync(first.info.caPath, 'utf8');
  const emu = { ...first.info, caPem };
  const network = new NetworkManagementClient(emulatorCredential(emu), emu.subscriptionId, emulatorClientOptions(emu));
  await network.loadBalancers.beginCreateOrUpdateAndWait('rg', 'ilb', { location: 'eastus' }, { updateIntervalInMs: 5 });

  t.equal((await admin(first, 'POST', 'scale', { resourceGroup: 'rg', name: 'gw', instances: 3 })).status, 204);
  t.equal((await admin(first, 'POST', 'resource-groups', { name: 'rg2' })).status, 204);
  t.equal((await admin(first, 'POST', 'subnets', { resourceGroup: 'rg2', vnetName: 'v', subnetName: 's', addressPrefix: '10.1.0.0/24' })).status, 200);
  t.match((await admin(first, 'POST', 'vmss', { resourceGroup: 'rg2', name: 'x', instances: 0 })).body, { uniqueId: /./ });
  t.match((await admin(first, 'POST', 'public-ip-prefixes', { resourceGroup: 'rg2', name: 'p', prefixLength: 30 })).body, { ipPrefix: /^20\./ });
  t.equal((await admin(first, 'POST', 'settings', { latencyMs: 0, lroPolls: 1, lroRetryAfterSeconds: 0, lroTimeoutMs: 5000, pageSize: 10 })).status, 204);
  t.equal((await admin(first, 'DELETE', 'requests')).status, 204);
  t.equal((await admin(first, 'POST', 'faults', { method: 'GET', pathPattern: 'loadbalancers/ilb$', flags: 'i', status: 503, count: 1 })).status, 204);
  await network.loadBalancers.get('rg', 'ilb');
  const log = (await admin(first, 'GET', 'requests')).body as { operation: string; status: number }[];
  t.same(log.filter((r) => r.operation === 'GET loadBalancers').map((r) => r.status), [503, 200], 'fault injected over the admin API');
  t.equal((await admin(first, 'DELETE', 'requests')).status, 204);
  t.same((await admin(first, 'GET', 'requests')).body, [], 'cleared');
  t.equal((await admin(first, 'DELETE', 'faults')).status, 204);
  const inv = (await admin(first, 'GET', 'inventory')).body as Record<string, Record<string, unknown>>;
  const vmId = Object.keys(inv).find((k) => k.endsWith('/virtualmachinescalesets/gw/virtualmachines/0'))!;
  const vm = inv[vmId]!;
  (vm['properties'] as { networkProfileConfiguration: { networkInterfaceConfigurations: unknown[] } }).networkProfileConfiguration.networkInterfaceConfigurations = [];
  t.equal((await admin(first, 'POST', 'mutate', { id: vmId, body: vm })).status, 204);
  t.equal((await admin(first, 'POST', 'mutate', { id: 'nope', body: {} })).status, 404);
  t.equal((await admin(first, 'POST', 'scale', { name: 'gw' })).status, 400);
  t.equal((await admin(first, 'POST', 'scale', undefined)).status, 400);
  t.equal((await admin(first, 'GET', 'nothing')).status, 404);
  const before = (await admin(first, 'GET', 'inventory')).body;
  t.equal(await stopCmd(first), 0, 'SIGTERM stops it cleanly');

  const second = await startCmd(t, ['--state-dir', stateDir, '--seed', seed, '--port', new URL(first.info.endpoint).port, '--log-level', 'warn']);
  t.equal(second.info.endpoint, first.info.endpoint, 'same port');
  t.equal(readFileSync(second.info.caPath, 'utf8'), caPem, 'same CA: clients keep trusting it');
  t.same((await admin(second, 'GET', 'inventory')).body, before, 'state restored, seed not applied twice');
  t.equal((await network.loadBalancers.get('rg', 'ilb')).provisioningState, 'Succeeded', 'the old client and its token still work');
  await stopCmd(second);
});

t.test('usage errors exit 2 and name the flag', async (t) => {
  const usage = async (args: string[]): Promise<string> => {
    let err = '';
    t.equal(await main(args, () => {}, { out: () => {}, err: (s) => (err += s) }), 2, args.join(' '));
    return err;
  };
  t.match(await usage([]), /--state-dir/);
  t.match(await usage(['--bogus']), /unknown option '--bogus'/);
  const dir = mkdtempSync(join(tmpdir(), 'keg-arm-cmd-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.match(await usage(['--state-dir', dir, '--port', '-1']), /--port/);
  writeFileSync(join(dir, 'bad.json'), '{"vmss":[{"name":1}]}');
  t.match(await usage(['--state-dir', dir, '--seed', join(dir, 'bad.json')]), /vmss/);
  t.match(await usage(['--state-dir', dir, '--seed', join(dir, 'missing.json')]), /cannot read/);
});
