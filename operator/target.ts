/**
 * Resolves where a gateway lives in Azure (its VMSS, the prefix length, a
 * bring-your-own prefix) and checks everything a user can get wrong before
 * any write: the LB and VM reconcilers both call it first, so a bad spec
 * leaves no partial resources behind.
 */
import {
  AZURE_TAG_POOL_NAME, AZURE_TAG_PREFIX_SIZE, PUBLIC_IP_PREFIX_SIZE_MAX, PUBLIC_IP_PREFIX_SIZE_MIN,
} from '../lib/api/constants.ts';
import type { GatewayVMConfigurationSpec } from '../lib/api/v1alpha1.ts';
import { gatewayTarget } from '../lib/api/validation.ts';
import { KegError } from '../lib/errors.ts';
import type { Azure, PublicIPPrefix, VirtualMachineScaleSet } from './azure/client.ts';

export interface Target {
  resourceGroup: string;
  vmssName: string;
  vmss: VirtualMachineScaleSet;
  uniqueId: string;
  /** Length of the prefix: required for a managed prefix, checked against a BYO one. */
  prefixLength: number | undefined;
  /** A bring-your-own prefix, when the spec names one. */
  byoPrefix: PublicIPPrefix | undefined;
}

type Spec = Pick<GatewayVMConfigurationSpec, 'gatewayNodepoolName' | 'gatewayVmssProfile' | 'provisionPublicIps' | 'publicIpPrefixId'>;

/**
 * The node pool's prefix length. A missing tag is an error, as in Go: AKS sets
 * it on every gateway pool, so its absence means the pool is not one, and a
 * guessed length would reserve addresses nobody asked for. Only public mode
 * asks (private mode needs no prefix).
 */
function prefixSizeFromTag(vmss: VirtualMachineScaleSet): number {
  const tag = Object.entries(vmss.tags ?? {}).find(([k]) => k.toLowerCase() === AZURE_TAG_PREFIX_SIZE.toLowerCase())?.[1];
  if (tag === undefined) {
    throw new KegError('PREFIX_SIZE_INVALID', `VMSS ${vmss.name ?? ''} of the node pool has no tag ${AZURE_TAG_PREFIX_SIZE}: public mode needs it (AKS sets it on gateway node pools); tag the VMSS or use provisionPublicIps: false`);
  }
  const n = Number(tag);
  if (!Number.isInteger(n) || n < PUBLIC_IP_PREFIX_SIZE_MIN || n > PUBLIC_IP_PREFIX_SIZE_MAX) {
    throw new KegError('PREFIX_SIZE_INVALID', `VMSS ${vmss.name ?? ''} tag ${AZURE_TAG_PREFIX_SIZE}=${JSON.stringify(tag)}: want an integer from ${PUBLIC_IP_PREFIX_SIZE_MIN} to ${PUBLIC_IP_PREFIX_SIZE_MAX}`);
  }
  return n;
}

async function findVmss(azure: Azure, spec: Spec): Promise<{ resourceGroup: string; vmss: VirtualMachineScaleSet; prefixLength: () => number | undefined }> {
  const target = gatewayTarget(spec);
  if (target.mode === 'nodepool') {
    const rg = azure.config.resourceGroup;
    // Matched case-insensitively, as Go does: AKS pool names are lower case, users may type them otherwise.
    const found = (await azure.listVmss(rg)).filter((v) => (v.tags?.[AZURE_TAG_POOL_NAME] ?? '').toLowerCase() === target.nodepoolName.toLowerCase());
    found.sort((a, b) => (a.name ?? '').localeCompare(b.name ?? ''));
    const vmss = found[0];
    if (!vmss) throw new KegError('VMSS_NOT_FOUND', `no VMSS in resource group ${rg} has tag ${AZURE_TAG_POOL_NAME}=${target.nodepoolName}; check gatewayNodepoolName`);
    return { resourceGroup: rg, vmss, prefixLength: () => prefixSizeFromTag(vmss) };
  }
  const vmss = await azure.getVmss(target.resourceGroup, target.vmssName);
  if (!vmss) throw new KegError('VMSS_NOT_FOUND', `VMSS ${target.vmssName} not found in resource group ${target.resourceGroup}; check gatewayVmssProfile`);
  return { resourceGroup: target.resourceGroup, vmss, prefixLength: () => target.publicIpPrefixSize };
}

const PREFIX_ID = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Network\/publicIPPrefixes\/([^/]+)$/i;

async function checkByoPrefix(azure: Azure, id: string, prefixLength: number | undefined): Promise<PublicIPPrefix> {
  const m = PREFIX_ID.exec(id);
  if (!m) throw new KegError('BYO_PREFIX_NOT_FOUND', `publicIpPrefixId ${id} is not a public IP prefix ID`);
  const [, subscription = '', rg = '', name = ''] = m;
  if (subscription.toLowerCase() !== azure.config.subscriptionId.toLowerCase()) {
    throw new KegError('BYO_PREFIX_NOT_FOUND', `publicIpPrefixId ${id} is in subscription ${subscription}; the operator manages subscription ${azure.config.subscriptionId}`);
  }
  const prefix = await azure.getPublicIpPrefix(rg, name);
  if (!prefix) throw new KegError('BYO_PREFIX_NOT_FOUND', `public IP prefix ${name} not found in resource group ${rg}; check publicIpPrefixId`);
  if (prefixLength !== undefined && prefix.prefixLength !== prefixLength) {
    throw new KegError('BYO_PREFIX_LENGTH_MISMATCH', `public IP prefix ${name} is a /${prefix.prefixLength ?? '?'} but the gateway pool needs a /${prefixLength}; use a prefix of that length or change the pool's prefix size`);
  }
  return prefix;
}

/**
 * The gateway's VMSS and, in public mode, its prefix length and BYO prefix,
 * all checked. With `forDeletion`, only the VMSS: nothing about prefixes may
 * stand in the way of cleaning up.
 */
export async function resolveTarget(azure: Azure, spec: Spec, opts: { forDeletion?: boolean } = {}): Promise<Target> {
  const found = await findVmss(azure, spec);
  const { resourceGroup, vmss } = found;
  if (!vmss.uniqueId || !vmss.name) throw new KegError('VMSS_INCOMPLETE', `VMSS in ${resourceGroup} has no uniqueId or name`);
  const publicMode = spec.provisionPublicIps && !opts.forDeletion;
  const prefixLength = publicMode ? found.prefixLength() : undefined;
  const byoPrefix = publicMode && spec.publicIpPrefixId ? await checkByoPrefix(azure, spec.publicIpPrefixId, prefixLength) : undefined;
  return { resourceGroup, vmssName: vmss.name, vmss, uniqueId: vmss.uniqueId, prefixLength, byoPrefix };
}
