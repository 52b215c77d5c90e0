import t from 'tap';
import { parseObject, GatewayVMConfigurationSchema, PodEndpointSchema, StaticGatewayConfigurationSchema } from '../lib/api/v1alpha1.ts';
import { generatePrivateKey } from '../lib/wireguard/keys.ts';
import { PeerIndex, desiredGateway } from './desired.ts';

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
  t.same([...idx.peersOf('app/a')], [[k1, '10.244.0.1/32']]);
  t.same([...idx.endpointKeysOf('app/a')], [[k1, 'app/p1']]);
  t.same(idx.upsert(pe('p1', 'b', '10.244.0.1/32')), ['app/b', 'app/a'], 'moved: both SGCs change');
  t.equal(idx.peersOf('app/a').size, 0);
  t.equal(idx.remove(pe('p1', 'b', '10.244.0.1/32')), 'app/b');
  t.equal(idx.remove(pe('p1', 'b', '10.244.0.1/32')), undefined, 'removing twice is harmless');
  t.equal(idx.peersOf('app/b').size, 0);
  t.same([...idx.endpointKeysOf('app/none')], []);
});
