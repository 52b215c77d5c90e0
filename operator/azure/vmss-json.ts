/**
 * VMSS network configurations as ARM's JSON carries them (properties nested),
 * checked with loose schemas: every field the operator does not interpret is
 * kept as read and written back untouched (ipTags, sku, dnsSettings, fields
 * newer than our SDK), which the SDK's models cannot promise.
 */
import { z } from 'zod';
import { KegError } from '../../lib/errors.ts';

const ref = z.looseObject({ id: z.string() });

const ipConfigSchema = z.looseObject({
  name: z.string(),
  properties: z.looseObject({
    primary: z.boolean().optional(),
    privateIPAddressVersion: z.string().optional(),
    subnet: ref.optional(),
    loadBalancerBackendAddressPools: z.array(ref).optional(),
    publicIPAddressConfiguration: z.looseObject({
      name: z.string(),
      properties: z.looseObject({ publicIPPrefix: ref.optional() }).optional(),
    }).optional(),
  }).optional(),
});
export type IpConfigJson = z.infer<typeof ipConfigSchema>;

const nicConfigSchema = z.looseObject({
  name: z.string(),
  properties: z.looseObject({
    primary: z.boolean().optional(),
    ipConfigurations: z.array(ipConfigSchema).optional(),
  }).optional(),
});
export type NicConfigJson = z.infer<typeof nicConfigSchema>;

const nicConfigs = z.looseObject({ networkInterfaceConfigurations: z.array(nicConfigSchema).optional() });

export const vmssNetworkSchema = z.looseObject({
  etag: z.string().optional(),
  properties: z.looseObject({
    virtualMachineProfile: z.looseObject({ networkProfile: nicConfigs.optional() }).optional(),
  }).optional(),
});

export const vmssVmSchema = z.looseObject({
  instanceId: z.string(),
  name: z.string().optional(),
  etag: z.string().optional(),
  properties: z.looseObject({
    provisioningState: z.string().optional(),
    osProfile: z.looseObject({ computerName: z.string().optional() }).optional(),
    networkProfileConfiguration: nicConfigs.optional(),
  }).optional(),
});
export type VmssVmJson = z.infer<typeof vmssVmSchema>;

export interface VmssNetwork {
  etag: string | undefined;
  nics: NicConfigJson[];
}

export function parseArm<T extends z.ZodType>(schema: T, what: string, raw: unknown): z.infer<T> {
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new KegError('ARM_RESPONSE_INVALID', `${what}: unexpected ARM response at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
  }
  return r.data;
}
