import { z } from 'zod';
import type { RouterConfig } from './router/config.ts';

/*
 * What the VNet router must do, read off the Azure state (the ARM emulator's
 * inventory), the way Azure's own data plane follows its control plane:
 * load-balancing rules become ILB frontends with their health probes and the
 * node addresses in their backend pool; secondary ipConfigs are routed to
 * their node; instance public IPs get 1:1 NAT.
 */

const Ref = z.object({ id: z.string() });
const IpConfig = z.object({
  id: z.string(),
  properties: z.object({
    primary: z.boolean().optional(),
    privateIPAddress: z.string(),
    loadBalancerBackendAddressPools: z.array(Ref).optional(),
    publicIPAddress: z.object({ properties: z.object({ ipAddress: z.string() }) }).optional(),
  }),
});
const Nic = z.object({ properties: z.object({ ipConfigurations: z.array(IpConfig) }) });
const Lb = z.object({
  properties: z.object({
    frontendIPConfigurations: z.array(z.object({ id: z.string(), properties: z.object({ privateIPAddress: z.string().optional() }) })).default([]),
    loadBalancingRules: z.array(z.object({
      properties: z.object({
        frontendIPConfiguration: Ref,
        backendAddressPool: Ref.optional(),
        frontendPort: z.number(),
        probe: Ref.optional(),
      }),
    })).default([]),
    probes: z.array(z.object({ id: z.string(), properties: z.object({ port: z.number(), requestPath: z.string().optional(), probeThreshold: z.number().optional() }) })).default([]),
  }),
});

type AzureView = Pick<RouterConfig, 'frontends' | 'secondaryRoutes' | 'publicIps'>;

const lower = (s: string) => s.toLowerCase();

function byType<T extends z.ZodType>(inventory: Record<string, unknown>, type: string, schema: T): z.output<T>[] {
  return Object.values(inventory)
    .filter((v) => typeof v === 'object' && v !== null && lower(String((v as { type?: unknown }).type ?? '')) === lower(type))
    .map((v) => schema.parse(v));
}

export function azureView(inventory: Record<string, unknown>): AzureView {
  const nics = byType(inventory, 'Microsoft.Network/networkInterfaces', Nic);
  const poolMembers = new Map<string, string[]>();
  const view: AzureView = { frontends: [], secondaryRoutes: [], publicIps: [] };
  for (const nic of nics) {
    const primary = nic.properties.ipConfigurations.find((c) => c.properties.primary) ?? nic.properties.ipConfigurations[0];
    if (!primary) continue;
    const nodeIp = primary.properties.privateIPAddress;
    for (const ipc of nic.properties.ipConfigurations) {
      for (const pool of ipc.properties.loadBalancerBackendAddressPools ?? []) {
        poolMembers.set(lower(pool.id), [...(poolMembers.get(lower(pool.id)) ?? []), nodeIp]);
      }
      if (ipc !== primary) view.secondaryRoutes.push({ ip: ipc.properties.privateIPAddress, nodeIp });
      const pub = ipc.properties.publicIPAddress?.properties.ipAddress;
      if (pub) view.publicIps.push({ privateIp: ipc.properties.privateIPAddress, publicIp: pub });
    }
  }
  for (const lb of byType(inventory, 'Microsoft.Network/loadBalancers', Lb)) {
    for (const rule of lb.properties.loadBalancingRules) {
      const r = rule.properties;
      const fe = lb.properties.frontendIPConfigurations.find((f) => lower(f.id) === lower(r.frontendIPConfiguration.id));
      const probe = lb.properties.probes.find((p) => lower(p.id) === lower(r.probe?.id ?? ''));
      if (!fe?.properties.privateIPAddress || !probe) continue;
      view.frontends.push({
        ip: fe.properties.privateIPAddress, port: r.frontendPort,
        probePort: probe.properties.port, probePath: probe.properties.requestPath ?? '/',
        // What the operator created (operator/lb-model.ts); Azure's default when unset is 1. The
        // interval stays the lab's (probeIntervalMs), shorter than Azure's 5 s to keep tests quick.
        probeThreshold: probe.properties.probeThreshold ?? 1,
        backends: [...new Set(poolMembers.get(lower(r.backendAddressPool?.id ?? '')) ?? [])].sort(),
      });
    }
  }
  return view;
}
