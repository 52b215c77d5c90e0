import { createHash } from 'node:crypto';

/** The pod-side interface name of the tunnel. */
export const POD_IFNAME = 'wg0';
/** Connmark (and fwmark) of connections that arrived on the pod's primary interface. */
export const INGRESS_MARK = 0x6b65;
/** Routing table that answers those connections via the primary interface. */
export const INGRESS_TABLE = 4661;
export const INGRESS_RULE_PRIORITY = 1000;
/** nft table (family inet) in the pod namespace. */
export const NFT_TABLE = 'keg_cni';

/**
 * The host-unique name of a container's WireGuard link before it moves into
 * the pod as wg0. wireguard-go keeps its socket under this name for the
 * link's life, in a directory shared by the whole host, so it must be unique
 * per container, not per namespace: 15 characters, the Linux limit.
 */
export function hostLinkName(containerId: string): string {
  return `kegw-${createHash('sha256').update(containerId).digest('hex').slice(0, 10)}`;
}
