import { settled } from '../../lib/async.ts';
import { KegError } from '../../lib/errors.ts';
import type { PrivateKey } from '../../lib/wireguard/keys.ts';
import type { WgLink, WgLinks } from '../../lib/wireguard/link.ts';
import { POD_IFNAME } from './names.ts';
import type { PodRecord } from './record.ts';

/** The peer of every pod tunnel: the gateway's ILB frontend, for all destinations. */
export function gatewayPeer(record: PodRecord): { publicKey: string; endpoint: string; allowedIps: string[] } {
  return { publicKey: record.gatewayPublicKey, endpoint: record.gatewayEndpoint, allowedIps: ['0.0.0.0/0'] };
}

/**
 * Keys the pod's WireGuard link (made in the host namespace, so its UDP
 * socket stays on the host, reaching the gateway over the node's network),
 * sets the gateway peer, and moves it into the pod as wg0, still down (the
 * caller brings it up with the pod's routes). wireguard-go is keyed over its
 * control socket, wherever its tun is, so alongside the move; a kernel link
 * is keyed where it was made, before. On failure the caller's undo deletes
 * the link (the record names it).
 */
export async function configureTunnel(links: WgLinks, link: WgLink, record: PodRecord, key: PrivateKey): Promise<WgLink> {
  const config = { privateKey: key, peers: [gatewayPeer(record)] };
  if (link.kind === 'kernel') {
    await links.configure(link, config);
    return links.move(link, record.netns, POD_IFNAME);
  }
  const [moved] = await settled([links.move(link, record.netns, POD_IFNAME), links.configure(link, config)]);
  return moved;
}

/**
 * Deletes the pod's link wherever it is: in the pod as wg0, or still in the
 * host namespace under its host name (ADD died before the move). A missing
 * namespace or link is success; for wireguard-go, a socket left behind is removed.
 */
export async function deleteTunnel(links: WgLinks, record: PodRecord): Promise<void> {
  const inPod = await findOwn(links, record, record.netns);
  if (inPod) await links.delete(inPod);
  const onHost = await findOwn(links, record, undefined);
  if (onHost) await links.delete(onHost);
  // Deleting the pod's namespace took the tun with it; what may remain is the socket.
  await links.delete({ ifname: record.hostLink, wgName: record.hostLink, kind: 'userspace', netnsPath: record.netns });
}

async function findOwn(links: WgLinks, record: PodRecord, netns: string | undefined): Promise<WgLink | undefined> {
  const name = netns === undefined ? record.hostLink : POD_IFNAME;
  try {
    const link = await links.find(name, netns);
    return link !== undefined && (link.wgName === record.hostLink || link.kind === 'kernel') ? link : undefined;
  } catch (err) {
    if (err instanceof KegError && err.code === 'WG_LINK_FOREIGN') return undefined;
    throw err;
  }
}
