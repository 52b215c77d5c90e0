// Real WireGuard tunnels between namespaces, built with WgLinks and Wg the way
// the CNI plugin and the gateway daemon use them. Needs root; uses wireguard-go
// where the kernel has no WireGuard.
import t from 'tap';
import { existsSync } from 'node:fs';
import { ExecRunner } from '../exec/runner.ts';
import { tempNetns } from '../../testenv/netns.ts';
import { WgLinks, type WgLink } from './link.ts';
import { generatePrivateKey, type PrivateKey } from './keys.ts';
import { addAddress, cleanupLink, ping, uniqueLinkName, underlayPair, waitForWireguardGoGone, wireguardGoPids, type TestNs } from '../../testenv/wireguard.ts';

const runner = new ExecRunner();

interface Side {
  link: WgLink;
  key: PrivateKey;
  ns: TestNs;
  tunnelIp: string;
}

/** Keys, one peer each way, addresses, up. `endpointOfB` is where A sends to. */
async function connect(links: WgLinks, a: Side, b: Side, endpointOfB: string): Promise<void> {
  await links.wg(a.link).configureDevice(a.link.wgName, { privateKey: a.key });
  await links.wg(b.link).configureDevice(b.link.wgName, { privateKey: b.key, listenPort: endpointPort(endpointOfB) });
  await links.wg(a.link).setPeer(a.link.wgName, { publicKey: b.key.publicKey(), endpoint: endpointOfB, allowedIps: [`${b.tunnelIp}/32`] });
  await links.wg(b.link).setPeer(b.link.wgName, { publicKey: a.key.publicKey(), allowedIps: [`${a.tunnelIp}/32`] });
  for (const side of [a, b]) {
    await addAddress(side.ns, side.link.ifname, `${side.tunnelIp}/24`);
    await links.setUp(side.link);
  }
}

function endpointPort(endpoint: string): number {
  return Number(endpoint.slice(endpoint.lastIndexOf(':') + 1));
}

t.test('pod-like and gateway-like namespaces talk through the tunnel over a veth underlay', async (t) => {
  const links = new WgLinks(runner);
  const node = await underlayPair(t, 'tun');
  const pod = await tempNetns(t, 'pod');
  const gw = await tempNetns(t, 'gw');
  const [nameA, nameB] = [uniqueLinkName('wtp'), uniqueLinkName('wtg')];
  cleanupLink(t, nameA);
  cleanupLink(t, nameB);

  // Created where the underlay is, so the UDP sockets stay there; then moved
  // in, as the CNI plugin (renaming to wg0) and the gateway daemon do.
  const podLink = await links.move(await links.create(nameA, { netnsPath: node.a.path }), pod.path, 'wg0');
  const gwLink = await links.move(await links.create(nameB, { netnsPath: node.b.path }), gw.path);
  t.same(podLink, { ifname: 'wg0', wgName: nameA, netnsPath: pod.path, kind: links.mode });
  t.same(gwLink, { ifname: nameB, wgName: nameB, netnsPath: gw.path, kind: links.mode });

  const a: Side = { link: podLink, key: generatePrivateKey(), ns: pod, tunnelIp: '10.201.0.2' };
  const b: Side = { link: gwLink, key: generatePrivateKey(), ns: gw, tunnelIp: '10.201.0.1' };
  await connect(links, a, b, `${node.b.ip}:51820`);
  t.ok(await ping(pod.path, b.tunnelIp), 'ping pod -> gateway through the tunnel');
  t.ok(await ping(gw.path, a.tunnelIp), 'and back');

  const gwState = await links.wg(gwLink).show(gwLink.wgName);
  t.equal(gwState.publicKey, b.key.publicKey());
  t.equal(gwState.listenPort, 51820);
  t.equal(gwState.peers.length, 1);
  const peer = gwState.peers[0]!;
  t.equal(peer.publicKey, a.key.publicKey());
  t.match(peer.endpoint, /^10\.200\.0\.1:\d+$/, 'endpoint learned from the underlay, not from the pod namespace');
  t.ok(peer.latestHandshake !== null && Math.abs(peer.latestHandshake - Date.now() / 1000) < 60, 'recent handshake');
  t.ok(peer.rxBytes > 0 && peer.txBytes > 0, 'transfer counters moved');

  t.same(await links.find('wg0', pod.path), podLink, 'found again by name and namespace');
  t.same(await links.list(gw.path), [gwLink]);

  const podWg = links.wg(podLink);
  const before = (await podWg.show(podLink.wgName)).peers[0]!;
  await podWg.resetPeer(podLink.wgName, { publicKey: before.publicKey, endpoint: before.endpoint!, allowedIps: before.allowedIps });
  const after = (await podWg.show(podLink.wgName)).peers[0]!;
  t.equal(after.latestHandshake, null, 'resetPeer forgets the session');
  t.same([after.publicKey, after.endpoint, after.allowedIps], [before.publicKey, before.endpoint, before.allowedIps], 'and keeps the configuration');
  t.ok(await ping(pod.path, b.tunnelIp), 'the next packet handshakes again');

  await links.wg(gwLink).removePeer(gwLink.wgName, a.key.publicKey());
  await links.wg(gwLink).removePeer(gwLink.wgName, a.key.publicKey());
  t.same((await links.wg(gwLink).show(gwLink.wgName)).peers, [], 'peer gone; removing it twice was fine');
  t.notOk(await ping(pod.path, b.tunnelIp, 1), 'traffic is dropped without the peer');

  await links.delete(podLink);
  await links.delete(gwLink);
  await links.delete(gwLink);
  for (const name of [nameA, nameB]) t.ok(await waitForWireguardGoGone(name), `no process or socket left for ${name}`);
  t.equal(await links.find('wg0', pod.path), undefined);
});

t.test('links created in the host namespace and moved out talk over loopback', async (t) => {
  const links = new WgLinks(runner);
  const nsA = await tempNetns(t, 'hla');
  const nsB = await tempNetns(t, 'hlb');
  const [nameA, nameB] = [uniqueLinkName('wha'), uniqueLinkName('whb')];
  cleanupLink(t, nameA);
  cleanupLink(t, nameB);
  const linkA = await links.move(await links.create(nameA), nsA.path, 'wg0');
  const linkB = await links.move(await links.create(nameB), nsB.path, 'wg0');
  t.equal(linkA.netnsPath, nsA.path);

  const b: Side = { link: linkB, key: generatePrivateKey(), ns: nsB, tunnelIp: '10.202.0.1' };
  // A random free port on the host's loopback: ask the device for the one it picked.
  await links.wg(linkB).configureDevice(linkB.wgName, { privateKey: b.key });
  const port = (await links.wg(linkB).show(linkB.wgName)).listenPort;
  const a: Side = { link: linkA, key: generatePrivateKey(), ns: nsA, tunnelIp: '10.202.0.2' };
  await connect(links, a, b, `127.0.0.1:${port}`);
  t.ok(await ping(nsA.path, b.tunnelIp), 'ping through the tunnel');

  await links.delete(linkA);
  await links.delete(linkB);
  for (const name of [nameA, nameB]) t.ok(await waitForWireguardGoGone(name));
  t.equal(wireguardGoPids(nameA).length + wireguardGoPids(nameB).length, 0);
  t.notOk(existsSync(links.socketPath(nameA)));
});
