import t from 'tap';
import { parseObject, GatewayVMConfigurationSchema, PodEndpointSchema, StaticGatewayConfigurationSchema } from '../lib/api/v1alpha1.ts';
import { generatePrivateKey } from '../lib/wireguard/keys.ts';
import { ENDPOINT_NODE_LABEL, PeerIndex, desiredGateway, inCidrs } from './desired.ts';
import type { Verdict } from './pod-check.ts';

const pub = generatePrivateKey().publicKey();
const sgc = (status: object, extra: object = {}) => parseObject(StaticGatewayConfigurationSchema, {
  metadata: { name: 'a', namespace: 'app', uid: 'u1', ...extra }, spec: { gatewayNodepoolName: 'p' }, status,
});
const server = { ip: '10.0.0.100', port: 6000, publicKey: pub, privateKeySecretRef: { name: 'sgw-u1', namespace: 'sys' } };
const vm = (profiles: object[]) => parseObject(GatewayVMConfigurationSchema, {
  metadata: { name: 'a', namespace: 'app' }, spec: { gatewayNodepoolName: 'p' }, status: { gatewayVMProfiles: profiles },
});
const mine = vm([{ nodeName: 'n0', primaryIP: '10.0.0.4', secondaryIP: '10.0.0.65' }]);

t.test('an SGC applies when the node is listed with a secondary IP and the server profile is complete', async (t) => {
  t.same(desiredGateway(sgc({ gatewayServerProfile: server }), mine, 'n0'), {
    ok: true,
    gateway: { key: 'app/a', uid: 'u1', ilbIp: '10.0.0.100', port: 6000, publicKey: pub, secretRef: { namespace: 'sys', name: 'sgw-u1' }, secondaryIp: '10.0.0.65' },
  });
  const reasons = [
    desiredGateway(undefined, mine, 'n0'),
    desiredGateway(sgc({ gatewayServerProfile: server }, { deletionTimestamp: '2026-01-01T00:00:00Z' }), mine, 'n0'),
    desiredGateway(sgc({ gatewayServerProfile: server }), undefined, 'n0'),
    desiredGateway(sgc({ gatewayServerProfile: server }), mine, 'other'),
    desiredGateway(sgc({ gatewayServerProfile: server }), vm([{ nodeName: 'n0' }]), 'n0'),
    desiredGateway(sgc({}), mine, 'n0'),
    desiredGateway(sgc({ gatewayServerProfile: { ...server, port: 0 } }), mine, 'n0'),
    desiredGateway(sgc({ gatewayServerProfile: { ...server, publicKey: 'x' } }), mine, 'n0'),
    desiredGateway(sgc({ gatewayServerProfile: { ...server, privateKeySecretRef: { name: 'sgw-u1' } } }), mine, 'n0'),
  ].map((a) => (a.ok ? 'applies' : a.reason));
  t.same(reasons, [
    'no StaticGatewayConfiguration', 'being deleted', 'this node is not in the GatewayVMConfiguration',
    'this node is not in the GatewayVMConfiguration', 'no IPv4 secondary IP for this node yet',
    'no gateway server profile (ip, port) yet', 'no gateway server profile (ip, port) yet', 'no gateway key yet', 'no gateway key yet',
  ]);
});

t.test('the peer index follows endpoints between SGCs', async (t) => {
  const k1 = generatePrivateKey().publicKey();
  const pe = (name: string, sgcName: string, ip: string, key = k1) => parseObject(PodEndpointSchema, {
    metadata: { name, namespace: 'app' }, spec: { staticGatewayConfiguration: sgcName, podIpAddress: ip, podPublicKey: key },
  });
  const idx = new PeerIndex();
  t.same(idx.upsert(pe('p1', 'a', '10.244.0.1/32')), ['app/a']);
  t.same([...idx.desiredOf('app/a').peers], [[k1, '10.244.0.1/32']]);
  t.same([...idx.endpointKeysOf('app/a')], [[k1, 'app/p1']]);
  t.same(idx.upsert(pe('p1', 'b', '10.244.0.1/32')), ['app/b', 'app/a'], 'moved: both SGCs change');
  t.equal(idx.desiredOf('app/a').peers.size, 0);
  t.equal(idx.remove(pe('p1', 'b', '10.244.0.1/32')), 'app/b');
  t.equal(idx.remove(pe('p1', 'b', '10.244.0.1/32')), undefined, 'removing twice is harmless');
  t.equal(idx.desiredOf('app/b').peers.size, 0);
  t.same([...idx.endpointKeysOf('app/none')], []);
  t.same(idx.upsert(pe('p2', 'egress/shared', '10.244.0.2/32')), ['egress/shared'], 'a shared SGC named as <namespace>/<name> is looked up in its own namespace');
  t.same([...idx.desiredOf('egress/shared').peers], [[k1, '10.244.0.2/32']]);
  t.same(idx.upsert(pe('p3', 'a/b/c', '10.244.0.3/32')), ['app/a/b/c'], 'a malformed reference names no SGC');
});

const pe = (name: string, created: string, ip: string, key: string, node?: string) => parseObject(PodEndpointSchema, {
  metadata: { name, namespace: 'app', creationTimestamp: created, ...(node && { labels: { [ENDPOINT_NODE_LABEL]: node } }) },
  spec: { staticGatewayConfiguration: 'a', podIpAddress: ip, podPublicKey: key },
});

t.test('duplicate IPs and keys: the older endpoint wins, whatever the order of events', async (t) => {
  const [k1, k2, k3] = [0, 1, 2].map(() => generatePrivateKey().publicKey()) as [string, string, string];
  const victim = pe('victim', '2026-01-01T00:00:05Z', '10.244.0.5/32', k1);
  const forged = pe('forged', '2026-01-01T00:00:09Z', '10.244.0.5/32', k2);
  const sameSecond = pe('aaa', '2026-01-01T00:00:09Z', '10.244.0.6/32', k3);
  const sameSecondLater = pe('zzz', '2026-01-01T00:00:09Z', '10.244.0.6/32', k2);
  const results = [];
  for (const order of [[victim, forged, sameSecond, sameSecondLater], [sameSecondLater, forged, sameSecond, victim]]) {
    const idx = new PeerIndex();
    for (const x of order) idx.upsert(x);
    results.push(idx.desiredOf('app/a'));
  }
  t.same(results[0], results[1], 'the same outcome in either order');
  t.same([...results[0]!.peers], [[k1, '10.244.0.5/32'], [k3, '10.244.0.6/32']], 'the older holder of each IP is installed');
  t.same(results[0]!.refused, [
    { endpoint: 'app/forged', ip: '10.244.0.5/32', reason: 'DuplicatePodIP', other: 'app/victim' },
    { endpoint: 'app/zzz', ip: '10.244.0.6/32', reason: 'DuplicatePodIP', other: 'app/aaa' },
  ], 'same creation second: the name decides');
  const idx = new PeerIndex();
  idx.upsert(victim);
  idx.upsert(pe('copy', '2026-01-01T00:00:07Z', '10.244.0.7/32', k1));
  t.same(idx.desiredOf('app/a').refused, [{ endpoint: 'app/copy', ip: '10.244.0.7/32', reason: 'DuplicatePublicKey', other: 'app/victim' }], 'a public key claimed twice: the older wins too');
  idx.remove(victim);
  t.same([...idx.desiredOf('app/a').peers], [[k1, '10.244.0.7/32']], 'once the older one is gone, the other is installed');
});

t.test('with node ranges: an endpoint outside the pod ranges of its stamped node holds nothing, however old', async (t) => {
  const [k1, k2] = [0, 1].map(() => generatePrivateKey().publicKey()) as [string, string];
  const ranges = new Map([['node-a', ['10.244.0.0/24']], ['node-b', ['10.244.1.0/24']], ['azure-cni', []]]);
  const podCidrsOf = (n: string) => ranges.get(n);
  const idx = new PeerIndex();
  idx.upsert(pe('squatter', '2026-01-01T00:00:01Z', '10.244.0.5/32', k2, 'node-b'));
  idx.upsert(pe('pod', '2026-01-01T00:00:09Z', '10.244.0.5/32', k1, 'node-a'));
  t.same([...idx.desiredOf('app/a', podCidrsOf).peers], [[k1, '10.244.0.5/32']], 'the pod on node-a gets its IP');
  t.same(idx.desiredOf('app/a', podCidrsOf).refused, [{ endpoint: 'app/squatter', ip: '10.244.0.5/32', reason: 'OutsideNodePodCIDRs', other: 'node-b' }]);
  t.same([...idx.desiredOf('app/a').peers], [[k2, '10.244.0.5/32']], 'without the check, the older endpoint wins');
  const lax = new PeerIndex();
  lax.upsert(pe('unstamped', '2026-01-01T00:00:01Z', '10.9.0.5/32', k1));
  lax.upsert(pe('vnet-ip', '2026-01-01T00:00:01Z', '10.224.0.50/32', k2, 'azure-cni'));
  t.equal(lax.desiredOf('app/a', podCidrsOf).peers.size, 2, 'unstamped endpoints and nodes without ranges are not checked');
  t.ok(inCidrs('10.244.1.255/32', ['10.244.0.0/24', '10.244.1.0/24']));
  t.notOk(inCidrs('10.244.2.0', ['10.244.0.0/23', 'fd00::/64']));
});

t.test('with Pod verdicts: a contradicted endpoint holds nothing; a confirmed one comes before unconfirmed older ones', async (t) => {
  const [k1, k2, k3] = [0, 1, 2].map(() => generatePrivateKey().publicKey()) as [string, string, string];
  const verdicts = new Map<string, Verdict>([['forged', { genuine: false, why: 'no Pod app/forged' }], ['pod', { genuine: true }]]);
  const verdictOf = (x: { metadata: { name: string } }) => verdicts.get(x.metadata.name);
  const idx = new PeerIndex();
  idx.upsert(pe('forged', '2026-01-01T00:00:01Z', '10.244.0.5/32', k2));
  idx.upsert(pe('pending', '2026-01-01T00:00:02Z', '10.244.0.5/32', k3));
  idx.upsert(pe('pod', '2026-01-01T00:00:09Z', '10.244.0.5/32', k1));
  const d = idx.desiredOf('app/a', undefined, verdictOf);
  t.same([...d.peers], [[k1, '10.244.0.5/32']], 'the confirmed endpoint gets the IP');
  t.same(d.refused, [
    { endpoint: 'app/forged', ip: '10.244.0.5/32', reason: 'PodMismatch', other: 'no Pod app/forged' },
    { endpoint: 'app/pending', ip: '10.244.0.5/32', reason: 'DuplicatePodIP', other: 'app/pod' },
  ]);
  verdicts.delete('pod');
  t.same([...idx.desiredOf('app/a', undefined, verdictOf).peers], [[k3, '10.244.0.5/32']], 'while no Pod has answered, the older unrefused endpoint holds the IP');
});
