import { z } from 'zod';
import { instanceMetadata } from '../lib/azure/imds.ts';

const InstanceSchema = z.object({
  compute: z.object({
    name: z.string(),
    osProfile: z.object({ computerName: z.string().min(1) }),
  }),
});

/**
 * The Kubernetes node name of this VM, from Azure IMDS: a VMSS instance's
 * node is named after its computer name, lowercased (as the cloud provider does).
 */
export async function nodeNameFromImds(endpoint: string, opts: { timeoutMs?: number } = {}): Promise<string> {
  const instance = await instanceMetadata(endpoint, InstanceSchema, opts);
  return instance.compute.osProfile.computerName.toLowerCase();
}
