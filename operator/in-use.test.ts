import t from 'tap';
import { API_VERSION, KINDS } from '../lib/api/constants.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import { KubeRest } from '../lib/kube/rest.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { KEY_SECRET_NAMESPACE, partKubeconfig } from '../testenv/helm/accounts.ts';
import { POOL, createSgc, deleteSgcAndWait, operatorKubeconfig, startOperator, startWorld, waitReady } from './testing.ts';

const NS = 'default';
const KEY = `${'x'.repeat(42)}A=`;

interface Event { type: string; reason: string; message: string; involvedObject: { kind: string; name: string; uid?: string } }

t.test('deleting an SGC that pods use warns on the SGC and on each of its pods', async (t) => {
  const w = await startWorld(t);
  // As the chart's ServiceAccount: listing PodEndpoints and writing Pod events must be allowed by the shipped RBAC.
  await operatorKubeconfig(w);
  const kc = await partKubeconfig(w.kube, 'operator', `${w.dir}/op.kubeconfig`);
  const op = await startOperator(t, w, { rest: new KubeRest(kc), namespace: KEY_SECRET_NAMESPACE });
  const { rest } = w.kube;
  await createSgc(rest, NS, 'gw', { gatewayNodepoolName: POOL });
  await waitReady(rest, NS, 'gw', 'True', 90_000);
  const endpoint = (name: string, sgc: string, ip: string, uid?: string, ns = NS) => rest.create(resourcePath(RESOURCES.PodEndpoint, ns), {
    apiVersion: API_VERSION, kind: KINDS.PodEndpoint,
    metadata: { name, ...(uid ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name, uid }] } : {}) },
    spec: { staticGatewayConfiguration: sgc, podIpAddress: ip, podPublicKey: KEY },
  });
  await endpoint('p1', 'gw', '10.244.1.5/32', '0b9a1f0e-0000-4000-8000-000000000001');
  await endpoint('p2', 'gw', '10.244.1.6/32');
  await endpoint('p3', 'other', '10.244.1.7/32');
  // A pod of another namespace sharing the SGC (docs/api.md, allowedNamespaces).
  await rest.create(resourcePath(CORE.namespaces), { metadata: { name: 'team-b' } });
  await endpoint('p4', `${NS}/gw`, '10.244.1.8/32', undefined, 'team-b');
  await endpoint('p5', 'gw', '10.244.1.9/32', undefined, 'team-b');

  await deleteSgcAndWait(rest, NS, 'gw', 90_000);
  const events = (await rest.get<{ items: Event[] }>(resourcePath(CORE.events, NS))).items.filter((e) => e.reason === 'GatewayDeletedWhileInUse');
  const on = (kind: string, name: string) => events.filter((e) => e.involvedObject.kind === kind && e.involvedObject.name === name);
  t.equal(on(KINDS.StaticGatewayConfiguration, 'gw').length, 1, 'one Warning on the SGC, not one per deletion pass');
  t.match(on(KINDS.StaticGatewayConfiguration, 'gw')[0], { type: 'Warning', message: /3 pod\(s\).*p1, p2, p4.*blackholed/ });
  t.match(on('Pod', 'p1'), [{ type: 'Warning', message: /default\/gw was deleted/, involvedObject: { uid: '0b9a1f0e-0000-4000-8000-000000000001' } }]);
  t.match(on('Pod', 'p2'), [{ type: 'Warning' }]);
  t.same(on('Pod', 'p3'), [], 'a pod of another SGC is not warned');
  const shared = (await rest.get<{ items: Event[] }>(resourcePath(CORE.events, 'team-b'))).items.filter((e) => e.reason === 'GatewayDeletedWhileInUse');
  t.same(shared.map((e) => e.involvedObject.name), ['p4'], 'a pod of another namespace sharing it is warned in its namespace; one of a same-named SGC there is not');
  t.notMatch(op.logs.join('\n'), /could not (record event|list)/, 'no RBAC denial');
});
