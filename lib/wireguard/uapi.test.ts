// wireguard-go configured over its control socket, checked with `wg show`.
// Needs root; the device lives in a namespace the test owns.
import t from 'tap';
import { ExecRunner, inNetns } from '../exec/runner.ts';
import { tempNetns } from '../../testenv/netns.ts';
import { cleanupLink, uniqueLinkName } from '../../testenv/wireguard.ts';
import { generatePrivateKey } from './keys.ts';
import { WgLinks } from './link.ts';
import { uapiConfigure } from './uapi.ts';

t.test('key, port, fwmark and peers over the UAPI, as wg set would set them', async (t) => {
  const ns = await tempNetns(t, 'uapi');
  const links = new WgLinks(inNetns(new ExecRunner(), ns.path), { mode: 'userspace' });
  const name = uniqueLinkName('kuapi');
  cleanupLink(t, name);
  const link = await links.create(name);
  const key = generatePrivateKey();
  const peers = [
    { publicKey: generatePrivateKey().publicKey(), endpoint: '192.0.2.1:6000', allowedIps: ['0.0.0.0/0'] },
    { publicKey: generatePrivateKey().publicKey(), allowedIps: ['10.1.0.0/16', '10.2.0.0/16'], persistentKeepalive: 25 },
  ];
  await links.configure(link, { privateKey: key, listenPort: 51999, fwmark: 0x6b65, peers });
  const state = await links.wg(link).show(link.wgName);
  t.equal(state.publicKey, key.publicKey());
  t.equal(state.listenPort, 51999);
  t.equal(state.fwmark, 0x6b65);
  t.same(state.peers.map((p) => [p.publicKey, p.endpoint, p.allowedIps, p.persistentKeepalive]).toSorted(), [
    [peers[0]!.publicKey, '192.0.2.1:6000', ['0.0.0.0/0'], null],
    [peers[1]!.publicKey, null, ['10.1.0.0/16', '10.2.0.0/16'], 25],
  ].toSorted());

  await links.configure(link, { privateKey: key, peers: [{ ...peers[1]!, allowedIps: ['10.3.0.0/16'] }] });
  t.same((await links.wg(link).show(link.wgName)).peers.find((p) => p.publicKey === peers[1]!.publicKey)?.allowedIps, ['10.3.0.0/16'], 'allowed IPs replaced');
  await links.delete(link);
});

t.test('a device that is not there is WG_NO_DEVICE', async (t) => {
  await t.rejects(uapiConfigure('/var/run/wireguard/kuapi-absent.sock', { privateKey: generatePrivateKey() }), { code: 'WG_NO_DEVICE' });
});
