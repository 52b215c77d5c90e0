/**
 * A plain WireGuard peer standing in for a gateway: a namespace joined to
 * the lab's node namespace, whose wg device listens where the SGC status
 * says the gateway is, and takes a peer per PodEndpoint as the gateway
 * daemon would.
 */
import { ExecRunner, inNetns } from '../../lib/exec/runner.ts';
import { generatePrivateKey, type PrivateKey } from '../../lib/wireguard/keys.ts';
import { type WgLink, WgLinks } from '../../lib/wireguard/link.ts';
import { type Teardown, tempNetns } from '../netns.ts';
import { cleanupLink, uniqueLinkName } from '../wireguard.ts';

const runner = new ExecRunner();

/** A veth between two namespaces with an address on each end. */
export async function wireNamespaces(a: string, aCidr: string, b: string, bCidr: string): Promise<void> {
  const [na, nb] = [uniqueLinkName('kv'), uniqueLinkName('kv')];
  await inNetns(runner, a).run(['ip', 'link', 'add', na, 'type', 'veth', 'peer', 'name', nb, 'netns', b]);
  for (const [ns, dev, cidr] of [[a, na, aCidr], [b, nb, bCidr]] as const) {
    await inNetns(runner, ns).run(['ip', 'addr', 'add', cidr, 'dev', dev]);
    await inNetns(runner, ns).run(['ip', 'link', 'set', dev, 'up']);
  }
}

export interface GatewayStandIn {
  ns: { name: string; path: string };
  ip: string;
  port: number;
  key: PrivateKey;
  links: WgLinks;
  link: WgLink;
  /** What the gateway daemon does for a PodEndpoint: a peer and a route for the pod's /32. */
  addPod(publicKey: string, podIpAddress: string): Promise<void>;
}

/** `key`: another gateway's, as the gateway nodes of one SGC share it. */
export async function gatewayStandIn(t: Teardown, nodeNetns: string, ip = '192.168.200.10', port = 6000, key: PrivateKey = generatePrivateKey()): Promise<GatewayStandIn> {
  const ns = await tempNetns(t, 'gw');
  await wireNamespaces(nodeNetns, `${ip.replace(/\.\d+$/, '.1')}/24`, ns.path, `${ip}/24`);
  await inNetns(runner, ns.path).run(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
  const links = new WgLinks(runner);
  const name = uniqueLinkName('kegt');
  cleanupLink(t, name);
  const link = await links.create(name, { netnsPath: ns.path });
  t.teardown(() => links.delete(link));
  await links.wg(link).configureDevice(link.wgName, { privateKey: key, listenPort: port });
  await links.setUp(link);
  const addPod = async (publicKey: string, podIpAddress: string): Promise<void> => {
    await links.wg(link).setPeer(link.wgName, { publicKey, allowedIps: [podIpAddress] });
    await inNetns(runner, ns.path).run(['ip', 'route', 'replace', podIpAddress, 'dev', name]);
  };
  return { ns, ip, port, key, links, link, addPod };
}
