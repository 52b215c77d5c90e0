/**
 * The lab's address plan. Everything lives inside namespaces the lab creates;
 * none of these addresses exists outside them.
 */
export const VNET_CIDR = '10.224.0.0/16';
/** The VNet router's address: every node's default gateway, as in an Azure subnet. */
export const ROUTER_IP = '10.224.0.1';
/** The router's side of the link to the "internet" namespace. */
export const INTERNET_ROUTER_IP = '203.0.113.1';
/** The echo service that reports the caller's source address. */
export const ECHO_IP = '203.0.113.10';
export const ECHO_PORT = 80;
/** A second internet address of the same echo service, for tests that exclude one destination. */
export const ECHO_ALT_IP = '203.0.113.11';
/**
 * An "on-premises" network reached over private peering (ExpressRoute, VPN):
 * no NAT on the way, so the echo there sees private source addresses. Private
 * mode gateways egress towards it.
 */
export const ONPREM_CIDR = '192.168.100.0/24';
export const ONPREM_IP = '192.168.100.10';
/** Where pods reach the API server: the `kubernetes` Service's endpoint, on the VNet (Azure reserves .2 and .3). */
export const API_ENDPOINT_IP = '10.224.0.2';
export const API_ENDPOINT_PORT = 6443;
/** Where pods reach the ARM emulator (real-node mode: the operator's pod), on the VNet. */
export const ARM_ENDPOINT_IP = '10.224.0.3';
export const ARM_ENDPOINT_PORT = 443;
/** Node-local DNS's link-local address, served on every worker. */
export const NODE_LOCAL_DNS_IP = '169.254.10.11';
/** Where traffic of the VNet leaves from unless it has a public IP of its own (Azure's default outbound access). */
export const DEFAULT_OUTBOUND_IP = '198.51.100.10';
/** Public address space the lab's internet routes back to the router (public IP prefixes come from here). */
export const PUBLIC_RANGES = ['20.0.0.0/8', '198.51.100.0/24'];

/** Namespace names: unique per lab so several labs (or test files) can share a host. */
export function labNetnsName(labId: string, role: string): string {
  return `keg-${labId}-${role}`;
}

/**
 * The router-side end of a node's link. Interface names have 15 characters at
 * most and node names share long prefixes, so it is named by the node's address.
 */
export function routerPortName(nodeIp: string): string {
  const [, , c, d] = nodeIp.split('.');
  return `v${c}-${d}`;
}

/**
 * Routing mark and table for traffic the ILB steers to a backend. Derived from
 * the backend's address, so the router needs no allocation state.
 */
export function backendMark(ip: string): number {
  const [, , c, d] = ip.split('.').map(Number) as [number, number, number, number];
  return 0x10000 + c * 256 + d;
}
