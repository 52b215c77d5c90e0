import { z } from 'zod';

const Ipv4 = z.string().regex(/^(\d{1,3}\.){3}\d{1,3}$/, 'an IPv4 address');
const Cidr = z.string().regex(/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/, 'an IPv4 CIDR');

/** What the VNet router emulates, as derived from the Azure state. */
export const RouterConfigSchema = z.object({
  /** ILB frontends: UDP on ip:port, spread over healthy backends, floating IP (destination unchanged). */
  frontends: z.array(z.object({
    ip: Ipv4,
    port: z.number().int().min(1).max(65535),
    /** HTTP probe, as the Azure ILB does it: GET http://<backend>:<probePort><probePath>, healthy on 200. */
    probePort: z.number().int().min(1).max(65535),
    probePath: z.string().startsWith('/'),
    /** The probe's probeThreshold: consecutive failures before a backend leaves rotation. Absent: unhealthyThreshold. */
    probeThreshold: z.number().int().min(1).optional(),
    backends: z.array(Ipv4),
  })).default([]),
  /** Addresses owned by a node's NIC besides its primary one (secondary ipConfigs). */
  secondaryRoutes: z.array(z.object({ ip: Ipv4, nodeIp: Ipv4 })).default([]),
  /** Pod CIDRs routed to their node, as a cluster's route table does. */
  podRoutes: z.array(z.object({ cidr: Cidr, nodeIp: Ipv4 })).default([]),
  /** 1:1 NAT between a private address and its public IP, as Azure does for instance-level public IPs. */
  publicIps: z.array(z.object({ privateIp: Ipv4, publicIp: Ipv4 })).default([]),
  /** How often backends are probed. Azure's default is 5 s. */
  probeIntervalMs: z.number().int().min(50).default(5_000),
  /** Consecutive failures before a backend leaves rotation, for frontends whose probe names none. Azure's default is 1. */
  unhealthyThreshold: z.number().int().min(1).default(1),
});
export type RouterConfig = z.output<typeof RouterConfigSchema>;
export type Frontend = RouterConfig['frontends'][number];

export function frontendKey(f: { ip: string; port: number }): string {
  return `${f.ip}:${f.port}`;
}
