import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { RESOURCES } from '../lib/api/resources.ts';
import type { GatewayStatus, GatewaySummary } from '../lib/api/v1alpha1.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { createLogger } from '../lib/log.ts';
import { startTestKube } from '../testenv/kubeapi/index.ts';
import { StatusPublisher } from './status.ts';

t.test('GatewayStatus: created when missing, patched only on change, bursts coalesced, failures retried', async (t) => {
  const kube = await startTestKube(t);
  const warnings: string[] = [];
  const log = createLogger({ level: 'warn', write: (l) => warnings.push(l) });
  let summaries: GatewaySummary[] = [{ staticGatewayConfiguration: 'app/b', ready: true, peerCount: 2 }, { staticGatewayConfiguration: 'app/a', ready: false, message: 'no key' }];
  const pub = new StatusPublisher({ rest: kube.rest, namespace: 'sys', nodeName: 'n0', log, summaries: () => summaries, minIntervalMs: 50 });
  t.teardown(() => pub.stop());
  const path = resourcePath(RESOURCES.GatewayStatus, 'sys', 'n0');
  const get = () => kube.rest.get<GatewayStatus>(path);

  await kube.rest.create(resourcePath(CORE.namespaces), { metadata: { name: 'sys' } });
  await kube.stopApiServer();
  pub.changed();
  for (let i = 0; i < 100 && warnings.length === 0; i++) await sleep(50);
  t.match(warnings.join('\n'), /cannot update GatewayStatus; will retry/, 'the apiserver is down');
  await kube.startApiServer();
  let obj: GatewayStatus | undefined;
  for (let i = 0; i < 100 && !obj; i++) obj = await get().catch(() => sleep(50).then(() => undefined));
  t.ok(obj, 'retried until it could create the object');
  for (let i = 0; i < 100 && !obj?.status; i++) obj = await sleep(50).then(get);
  t.same(obj!.spec, { nodeName: 'n0' });
  t.same(obj!.status?.gateways?.map((g) => g.staticGatewayConfiguration), ['app/a', 'app/b'], 'sorted by SGC');

  const rv = obj!.metadata.resourceVersion;
  await pub.write();
  t.equal((await get()).metadata.resourceVersion, rv, 'no write when nothing changed');

  for (let i = 0; i < 20; i++) {
    summaries = [{ staticGatewayConfiguration: 'app/a', ready: true, peerCount: i }];
    pub.changed();
  }
  await sleep(400);
  const after = await get();
  t.same(after.status?.gateways, [{ staticGatewayConfiguration: 'app/a', ready: true, peerCount: 19 }], 'a burst ends in the last state');
  t.ok(Number(after.metadata.resourceVersion) - Number(rv) <= 3, 'in very few writes');
});
