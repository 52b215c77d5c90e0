/**
 * Standalone NICs (AKS node pools of type VirtualMachines) as ARM's JSON
 * carries them, checked loosely: a NIC is written back whole (ARM has no
 * PATCH for it), so every field the operator does not interpret must survive.
 */
import { z } from 'zod';

const ref = z.looseObject({ id: z.string() });

const nicIpConfigSchema = z.looseObject({
  name: z.string(),
  properties: z.looseObject({
    primary: z.boolean().optional(),
    privateIPAddress: z.string().optional(),
    privateIPAddressVersion: z.string().optional(),
    subnet: ref.optional(),
    loadBalancerBackendAddressPools: z.array(ref).optional(),
    publicIPAddress: ref.optional(),
  }).optional(),
});
export type NicIpConfigJson = z.infer<typeof nicIpConfigSchema>;

export const nicSchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  etag: z.string().optional(),
  tags: z.record(z.string(), z.string()).optional(),
  properties: z.looseObject({
    provisioningState: z.string().optional(),
    virtualMachine: ref.optional(),
    ipConfigurations: z.array(nicIpConfigSchema).optional(),
  }).optional(),
});
export type NicJson = z.infer<typeof nicSchema>;
