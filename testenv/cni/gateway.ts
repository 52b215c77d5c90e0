/**
 * A plain WireGuard peer standing in for a gateway: a namespace joined to
 * the lab's node namespace, whose wg device listens where the SGC status
 * says the gateway is, and takes a peer per PodEndpoint as the gateway
 * daemon would.
 */
import { ExecRunner, inNetns } from '../../lib/exec/runner.ts';
import type { KubeRest } from '../../lib/kube/rest.ts';
import { generatePrivateKey, type PrivateKey } from '../../lib/wireguard/keys.ts';
import { type WgLink, WgLinks } from '../../lib/wireguard/link.ts';
import { type Teardown, tempNetns } from '../netns.ts';
import { cleanupLink, uniqueLinkName } from '../wireguard.ts';
import { createSgc, createVmConfig, setSgcStatus } from './cluster.ts';

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

/**
 * An SGC `<namespace>/egress` served by two gateway nodes A and B (one key),
 * with its status and GatewayVMConfiguration naming them, and the load
 * balancer's frontend as a second address of A: as if the load balancer had
 * sent the pods' flows to A. `ips`: A's and B's node addresses.
 */
export async function gatewayPair(t: Teardown, nodeNetns: string, rest: KubeRest, namespace: string, ips: { a: string; b: string; frontend: string }): Promise<{ a: GatewayStandIn; b: GatewayStandIn; frontend: string }> {
  const key = generatePrivateKey();
  const a = await gatewayStandIn(t, nodeNetns, ips.a, 6000, key);
  const b = await gatewayStandIn(t, nodeNetns, ips.b, 6000, key);
  await inNetns(runner, a.ns.path).run(['ip', 'addr', 'add', `${ips.frontend}/32`, 'dev', 'lo']);
  const sgc = await createSgc(rest, namespace, 'egress');
  await setSgcStatus(rest, namespace, 'egress', sgc.generation, { ip: ips.frontend, port: 6000, publicKey: key.publicKey() });
  await createVmConfig(rest, namespace, 'egress', [a.ip, b.ip]);
  return { a, b, frontend: ips.frontend };
}
