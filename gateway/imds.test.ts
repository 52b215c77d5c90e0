import t from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startImdsEmulator } from '../testenv/azure/imds/server.ts';
import { nodeNameFromImds } from './imds.ts';

t.test('node name is the lowercased computer name', async (t) => {
  const imds = await startImdsEmulator({ default: { name: 'gw_3', computerName: 'AKS-GW-0000003', resourceGroupName: 'rg', subscriptionId: 's' } });
  t.teardown(() => imds.close());
  t.equal(await nodeNameFromImds(imds.url), 'aks-gw-0000003');
});

t.test('failures say what went wrong', async (t) => {
  const empty = await startImdsEmulator({});
  t.teardown(() => empty.close());
  await t.rejects(nodeNameFromImds(empty.url), { code: 'IMDS_FAILED', message: /HTTP 404/ });
  await t.rejects(nodeNameFromImds('http://127.0.0.1:1'), { code: 'IMDS_UNREACHABLE' });
  const odd = createServer((_req, res) => res.end('{"compute":{}}'));
  await new Promise<void>((r) => odd.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise((r) => odd.close(r)));
  await t.rejects(nodeNameFromImds(`http://127.0.0.1:${(odd.address() as AddressInfo).port}`), { code: 'IMDS_INVALID' });
});
