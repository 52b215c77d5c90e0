import t from 'tap';
import { EVENT_COMPONENT } from './events.ts';
import { REASONS } from './reasons.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { POOL, armWrites, createSgc, deleteSgcAndWait, sgcPath, startOperator, startWorld, waitReady } from './testing.ts';

const NS = 'default';

t.test('failures a user can act on, and Azure faults', async (t) => {
  const w = await startWorld(t);
  const { rest } = w.kube;
  w.emu.addResourceGroup('byo-rg');
  const wrong = w.emu.addPublicIpPrefix({ resourceGroup: 'byo-rg', name: 'too-small', prefixLength: 31 });
  const start = Object.keys(w.emu.inventory()).sort();
  const op = await startOperator(t, w);

  await t.test('a BYO prefix of the wrong length: Ready=False, no partial resources', async (t) => {
    await createSgc(rest, NS, 'wrong-length', { gatewayNodepoolName: POOL, publicIpPrefixId: wrong.id });
    const sgc = await waitReady(rest, NS, 'wrong-length', 'False', 30_000, REASONS.prefixLengthMismatch);
    const ready = sgc.status?.conditions?.find((c) => c.type === 'Ready');
    t.match(ready?.message, /is a \/31 but the gateway pool needs a \/30/);
    t.same(Object.keys(w.emu.inventory()).sort(), start, 'nothing created in Azure');
    t.same(armWrites(w.emu), [], 'not a single ARM write');
    await deleteSgcAndWait(rest, NS, 'wrong-length');
  });

  await t.test('a VMSS that does not exist: Ready=False, no partial resources', async (t) => {
    await createSgc(rest, NS, 'no-vmss', { gatewayVmssProfile: { vmssResourceGroup: 'aks-nodes', vmssName: 'nope', publicIpPrefixSize: 31 } });
    const sgc = await waitReady(rest, NS, 'no-vmss', 'False', 30_000, REASONS.vmssNotFound);
    t.match(sgc.status?.conditions?.[0]?.message, /VMSS nope not found in resource group aks-nodes/);
    await createSgc(rest, NS, 'no-pool', { gatewayNodepoolName: 'nopool' });
    const pool = await waitReady(rest, NS, 'no-pool', 'False', 30_000, REASONS.vmssNotFound);
    t.match(pool.status?.conditions?.[0]?.message, /aks-managed-poolName=nopool/);
    t.same(Object.keys(w.emu.inventory()).sort(), start, 'nothing created in Azure');
    const events = await rest.get<{ items: { reason: string; type: string; involvedObject: { name: string }; source: { component: string } }[] }>(resourcePath(CORE.events, NS));
    const mine = events.items.filter((e) => e.involvedObject.name === 'no-vmss' && e.reason === REASONS.vmssNotFound);
    t.equal(mine.length, 1, 'one Warning event for the transition');
    t.equal(mine[0]?.type, 'Warning');
    t.equal(mine[0]?.source.component, EVENT_COMPONENT);
    await deleteSgcAndWait(rest, NS, 'no-vmss');
    await deleteSgcAndWait(rest, NS, 'no-pool');
    t.same(Object.keys(w.emu.inventory()).sort(), start, 'still nothing in Azure');
  });

  await t.test('429 with Retry-After and 5xx: converges, never calls before Retry-After', async (t) => {
    w.emu.clearRequests();
    w.emu.inject({ method: 'PUT', pathPattern: /loadBalancers/, status: 429, retryAfterSeconds: 2, count: 1 });
    w.emu.inject({ method: 'PATCH', pathPattern: /virtualMachineScaleSets/, status: 500, count: 1 });
    w.emu.inject({ method: 'PUT', pathPattern: /publicIPPrefixes/, status: 503, count: 2 });
    await createSgc(rest, NS, 'faulty', { gatewayNodepoolName: POOL });
    const sgc = await waitReady(rest, NS, 'faulty', 'True', 60_000);
    t.ok(sgc.status?.gatewayServerProfile?.ip);
    const log = w.emu.requests();
    const throttled = log.find((r) => r.status === 429);
    t.ok(throttled, 'the 429 was served');
    const next = log.find((r) => r.time > throttled!.time && r.method === 'PUT' && r.path === throttled!.path);
    t.ok(next, 'the PUT was retried');
    t.ok(next!.time - throttled!.time >= 2_000, `retried ${next!.time - throttled!.time} ms after a Retry-After of 2 s`);
    t.ok(log.some((r) => r.status === 500) && log.some((r) => r.status === 503), '5xx were served');
    const metrics = await op.registry.getSingleMetricAsString('keg_operator_arm_throttled_total');
    t.match(metrics, /operation="PUT loadBalancers"[^}]*} 1/, 'the throttle is counted');
    const requests = await op.registry.getSingleMetricAsString('keg_operator_arm_requests_total');
    t.match(requests, /code="503"/);
    await deleteSgcAndWait(rest, NS, 'faulty');
    t.same(Object.keys(w.emu.inventory()).sort(), start, 'inventory back to the start');
  });

  await t.test('no secret in status, events or logs', async (t) => {
    const secrets = await rest.get<{ items: { data?: Record<string, string> }[] }>(resourcePath(CORE.secrets, 'kube-egress-gateway-system'));
    t.ok(secrets.items.length === 0, 'all key Secrets are gone again');
    await createSgc(rest, NS, 'secretive', { gatewayNodepoolName: POOL });
    await waitReady(rest, NS, 'secretive');
    const secret = (await rest.get<{ items: { data: Record<string, string> }[] }>(resourcePath(CORE.secrets, 'kube-egress-gateway-system'))).items[0]!;
    const privateKey = Buffer.from(secret.data.PrivateKey!, 'base64').toString('utf8');
    const clientSecret = String(w.config.credential.kind === 'clientSecret' ? w.config.credential.clientSecret : '');
    const status = JSON.stringify(await rest.get(sgcPath(NS, 'secretive')));
    const events = JSON.stringify(await rest.get(resourcePath(CORE.events, NS)));
    const logs = op.logs.join('\n');
    t.ok(logs.length > 0, 'there are logs to look at');
    for (const [what, text] of [['status', status], ['events', events], ['logs', logs]] as const) {
      t.notOk(text.includes(privateKey), `no private key in ${what}`);
      t.notOk(text.includes(clientSecret), `no client secret in ${what}`);
    }
    await deleteSgcAndWait(rest, NS, 'secretive');
  });

  await t.test('a damaged key Secret is reported, never silently replaced', async (t) => {
    await createSgc(rest, NS, 'keyed', { gatewayNodepoolName: POOL });
    const ready = await waitReady(rest, NS, 'keyed');
    const path = resourcePath(CORE.secrets, 'kube-egress-gateway-system', `sgw-${ready.metadata.uid ?? ''}`);
    await rest.patch(path, { data: { PrivateKey: Buffer.from('not a key').toString('base64') } });
    await rest.patch(sgcPath(NS, 'keyed'), { metadata: { labels: { touched: 'yes' } } });
    const sgc = await waitReady(rest, NS, 'keyed', 'False', 30_000, REASONS.keySecretInvalid);
    t.match(sgc.status?.conditions?.[0]?.message, /delete it to generate a new key pair/);
    const secret = await rest.get<{ data: Record<string, string> }>(path);
    t.equal(Buffer.from(secret.data.PrivateKey!, 'base64').toString(), 'not a key', 'left as it is');
    await rest.delete(path);
    await rest.patch(sgcPath(NS, 'keyed'), { metadata: { labels: { touched: 'again' } } });
    const fresh = await waitReady(rest, NS, 'keyed');
    t.not(fresh.status?.gatewayServerProfile?.publicKey, ready.status?.gatewayServerProfile?.publicKey, 'a new pair once the user deleted the Secret');
    await deleteSgcAndWait(rest, NS, 'keyed');
    t.same(Object.keys(w.emu.inventory()).sort(), start, 'inventory back to the start');
  });
});
