import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { ManagedIdentityCredential } from '@azure/identity';
import { startImdsEmulator } from './server.ts';

interface Doc {
  compute: { osProfile: { computerName: string } } & Record<string, unknown>;
  network: { interface: { ipv4: { ipAddress: { privateIpAddress: string }[]; subnet: unknown } }[] };
}

const node1 = { name: 'gw_0', computerName: 'GW000000', vmScaleSetName: 'gw', resourceGroupName: 'rg', subscriptionId: 'sub', privateIps: ['10.0.0.4', '10.0.0.5'] };

t.test('instance metadata: Metadata header required, per-caller identity, default', async (t) => {
  const imds = await startImdsEmulator({ default: node1 });
  t.teardown(() => imds.close());
  const get = (path: string, headers: Record<string, string> = { Metadata: 'true' }) => fetch(`${imds.url}${path}`, { headers });

  const noHeader = await get('/metadata/instance?api-version=2021-02-01', {});
  t.equal(noHeader.status, 400, 'refused without Metadata: true, as Azure does');
  t.equal((await get('/metadata/instance?api-version=2021-02-01', { Metadata: 'true', 'X-Forwarded-For': '1.2.3.4' })).status, 400);
  t.equal((await get('/metadata/instance')).status, 400, 'api-version required');
  t.equal((await get('/metadata/nope?api-version=1')).status, 404);
  t.equal((await fetch(`${imds.url}/metadata/instance?api-version=1`, { method: 'POST', headers: { Metadata: 'true' } })).status, 405);

  const doc = await (await get('/metadata/instance?api-version=2021-02-01')).json() as Doc;
  t.match(doc.compute, { name: 'gw_0', vmScaleSetName: 'gw', resourceGroupName: 'rg', subscriptionId: 'sub', location: 'eastus', osProfile: { computerName: 'GW000000' } });
  t.same(doc.network.interface[0]!.ipv4.ipAddress.map((a: { privateIpAddress: string }) => a.privateIpAddress), ['10.0.0.4', '10.0.0.5']);

  imds.setIdentity('127.0.0.1', { ...node1, name: 'gw_1', computerName: 'GW000001', subnet: { address: '10.0.0.0', prefix: '24' } });
  const mine = await (await get('/metadata/instance?api-version=2021-02-01')).json() as Doc;
  t.equal(mine.compute.osProfile.computerName, 'GW000001', 'the caller (127.0.0.1) gets its own identity');
  t.same(mine.network.interface[0]!.ipv4.subnet, [{ address: '10.0.0.0', prefix: '24' }]);
});

t.test('no identity for the caller is a 404', async (t) => {
  const imds = await startImdsEmulator({});
  t.teardown(() => imds.close());
  t.equal((await fetch(`${imds.url}/metadata/instance?api-version=1`, { headers: { Metadata: 'true' } })).status, 404);
  imds.setIdentity(undefined, node1);
  t.equal((await fetch(`${imds.url}/metadata/instance?api-version=1`, { headers: { Metadata: 'true' } })).status, 200);
});

t.test('managed identity tokens, through the real @azure/identity credential', async (t) => {
  const imds = await startImdsEmulator({ default: node1, clientId: 'cid' });
  t.teardown(() => imds.close());
  const noResource = await fetch(`${imds.url}/metadata/identity/oauth2/token?api-version=2018-02-01`, { headers: { Metadata: 'true' } });
  t.equal(noResource.status, 400);

  const saved = process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST;
  process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = imds.url;
  t.teardown(() => {
    if (saved === undefined) delete process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST;
    else process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = saved;
  });
  const token = await new ManagedIdentityCredential({ clientId: 'cid' }).getToken('https://management.azure.com/.default');
  t.ok(token.token.split('.').length === 3, 'a JWT-shaped token');
  t.ok(token.expiresOnTimestamp > Date.now(), 'expires in the future');
  t.ok(imds.tokenRequests >= 1);
  const payload = JSON.parse(Buffer.from(token.token.split('.')[1]!, 'base64url').toString()) as { aud: string };
  t.equal(payload.aud, 'https://management.azure.com');
});

t.test('standalone command reads a config file and serves until SIGTERM', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keg-imds-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'imds.json');
  writeFileSync(file, JSON.stringify({ byCaller: { '127.0.0.1': node1 } }));
  const child = spawn(process.execPath, [new URL('./cmd.ts', import.meta.url).pathname, '--config', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  const [chunk] = await once(child.stdout, 'data') as [Buffer];
  const url = /listening (\S+)/.exec(chunk.toString())![1];
  const doc = await (await fetch(`${url}/metadata/instance?api-version=1`, { headers: { Metadata: 'true' } })).json() as Doc;
  t.equal(doc.compute.osProfile.computerName, 'GW000000');
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  t.equal(code, 0);
});
