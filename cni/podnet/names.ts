/** The pod-side interface name of the tunnel. */
export const POD_IFNAME = 'wg0';
/** Connmark (and fwmark) of connections that arrived on the pod's primary interface. */
export const INGRESS_MARK = 0x6b65;
/** Routing table that answers those connections via the primary interface. */
export const INGRESS_TABLE = 4661;
export const INGRESS_RULE_PRIORITY = 1000;
/** nft table (family inet) in the pod namespace. */
export const NFT_TABLE = 'keg_cni';
