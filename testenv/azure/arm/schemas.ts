import { z } from 'zod';
import { ArmError } from './ids.ts';

/*
 * Request bodies as ARM accepts them. Objects are loose: ARM keeps (and
 * returns) fields it does not interpret, and clients send back what they read,
 * read-only fields included. Only what the emulator acts on is checked.
 */

const ref = z.looseObject({ id: z.string().min(1) });
const tags = z.record(z.string(), z.string()).optional();
const port = z.int().min(1).max(65535);

export const frontendSchema = z.looseObject({
  name: z.string().min(1),
  properties: z.looseObject({
    subnet: ref.optional(),
    privateIPAddress: z.string().optional(),
    privateIPAllocationMethod: z.enum(['Dynamic', 'Static']).optional(),
  }),
});

const namedSchema = z.looseObject({ name: z.string().min(1), properties: z.looseObject({}).optional() });

export const ruleSchema = z.looseObject({
  name: z.string().min(1),
  properties: z.looseObject({
    frontendIPConfiguration: ref,
    backendAddressPool: ref.optional(),
    backendAddressPools: z.array(ref).optional(),
    probe: ref.optional(),
    protocol: z.enum(['Udp', 'Tcp', 'All']),
    frontendPort: z.int().min(0).max(65534),
    backendPort: z.int().min(0).max(65535),
    enableFloatingIP: z.boolean().optional(),
  }),
});

export const probeSchema = z.looseObject({
  name: z.string().min(1),
  properties: z.looseObject({
    protocol: z.enum(['Http', 'Https', 'Tcp']),
    port,
    requestPath: z.string().optional(),
  }),
});

export const loadBalancerSchema = z.looseObject({
  location: z.string().min(1),
  tags,
  sku: z.looseObject({ name: z.string().optional() }).optional(),
  properties: z.looseObject({
    frontendIPConfigurations: z.array(frontendSchema).default([]),
    backendAddressPools: z.array(namedSchema).default([]),
    loadBalancingRules: z.array(ruleSchema).default([]),
    probes: z.array(probeSchema).default([]),
  }).default({ frontendIPConfigurations: [], backendAddressPools: [], loadBalancingRules: [], probes: [] }),
});
export type LoadBalancer = z.infer<typeof loadBalancerSchema> & Stored;

export const publicIpPrefixSchema = z.looseObject({
  location: z.string().min(1),
  tags,
  sku: z.looseObject({ name: z.string().optional() }).optional(),
  properties: z.looseObject({
    prefixLength: z.int().min(28).max(31),
    publicIPAddressVersion: z.enum(['IPv4']).optional(),
  }),
});
export type PublicIpPrefix = Omit<z.infer<typeof publicIpPrefixSchema>, 'properties'> & Stored & {
  properties: z.infer<typeof publicIpPrefixSchema>['properties'] & { ipPrefix: string };
};

export const ipConfigSchema = z.looseObject({
  name: z.string().min(1),
  properties: z.looseObject({
    primary: z.boolean().optional(),
    subnet: ref.optional(),
    loadBalancerBackendAddressPools: z.array(ref).optional(),
    publicIPAddressConfiguration: z.looseObject({
      name: z.string().min(1),
      properties: z.looseObject({ publicIPPrefix: ref.optional() }).optional(),
    }).optional(),
  }).default({}),
});
export type IpConfig = z.infer<typeof ipConfigSchema>;

export const nicConfigSchema = z.looseObject({
  name: z.string().min(1),
  properties: z.looseObject({
    primary: z.boolean().optional(),
    ipConfigurations: z.array(ipConfigSchema),
  }),
});
export type NicConfig = z.infer<typeof nicConfigSchema>;

const networkConfigs = z.looseObject({ networkInterfaceConfigurations: z.array(nicConfigSchema).default([]) });

export const vmssSchema = z.looseObject({
  location: z.string().min(1),
  tags,
  sku: z.looseObject({ name: z.string().optional(), capacity: z.int().optional() }).optional(),
  properties: z.looseObject({
    virtualMachineProfile: z.looseObject({
      networkProfile: networkConfigs.default({ networkInterfaceConfigurations: [] }),
    }).default({ networkProfile: { networkInterfaceConfigurations: [] } }),
  }).default({ virtualMachineProfile: { networkProfile: { networkInterfaceConfigurations: [] } } }),
});
export type Vmss = z.infer<typeof vmssSchema> & Stored & { properties: { uniqueId: string } };

export const vmUpdateSchema = z.looseObject({
  properties: z.looseObject({ networkProfileConfiguration: networkConfigs.optional() }).optional(),
});

/** Server-managed fields every stored resource carries. */
export interface Stored {
  id: string;
  name: string;
  type: string;
  etag?: string;
  [k: string]: unknown;
}

export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const r = schema.safeParse(body);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ArmError(400, 'InvalidRequestContent', `invalid request body at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
  }
  return r.data;
}
