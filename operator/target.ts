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
import type { Azure, PublicIPPrefix } from './azure/client.ts';
import { vmPoolUniqueId } from './vm-pool-names.ts';

export interface Target {
  /** A VMSS, or an AKS node pool of type VirtualMachines (standalone VMs with their own NICs). */
  kind: 'vmss' | 'vmPool';
  resourceGroup: string;
  /** The VMSS name, or the pool name of a VirtualMachines pool. */
  vmssName: string;
  /** For messages: `VMSS <name>` or `VirtualMachines node pool <name>`. */
  where: string;
  /** Names the ILB frontend and backend pool: the VMSS uniqueId, or Go's uuid of the pool name. */
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
function prefixSizeFromTag(owner: Tagged, what: string): number {
  const tag = Object.entries(owner.tags ?? {}).find(([k]) => k.toLowerCase() === AZURE_TAG_PREFIX_SIZE.toLowerCase())?.[1];
  if (tag === undefined) {
    throw new KegError('PREFIX_SIZE_INVALID', `${what} of the node pool has no tag ${AZURE_TAG_PREFIX_SIZE}: public mode needs it (AKS sets it on gateway node pools); tag it or use provisionPublicIps: false`);
  }
  const n = Number(tag);
  if (!Number.isInteger(n) || n < PUBLIC_IP_PREFIX_SIZE_MIN || n > PUBLIC_IP_PREFIX_SIZE_MAX) {
    throw new KegError('PREFIX_SIZE_INVALID', `${what} tag ${AZURE_TAG_PREFIX_SIZE}=${JSON.stringify(tag)}: want an integer from ${PUBLIC_IP_PREFIX_SIZE_MIN} to ${PUBLIC_IP_PREFIX_SIZE_MAX}`);
  }
  return n;
}

interface Tagged {
  name?: string | undefined;
  tags?: Record<string, string> | undefined;
}

interface Found {
  target: Omit<Target, 'prefixLength' | 'byoPrefix'>;
  prefixLength: () => number | undefined;
}

// Matched case-insensitively, as Go does: AKS pool names are lower case, users may type them otherwise.
const inPool = (owner: Tagged, pool: string) => (owner.tags?.[AZURE_TAG_POOL_NAME] ?? '').toLowerCase() === pool.toLowerCase();
const byName = (a: Tagged, b: Tagged) => (a.name ?? '').localeCompare(b.name ?? '');

/** A node pool: its VMSS, or else its standalone VMs (a pool of type VirtualMachines). */
async function findNodePool(azure: Azure, pool: string): Promise<Found> {
  const rg = azure.config.resourceGroup;
  const vmss = (await azure.listVmss(rg)).filter((v) => inPool(v, pool)).sort(byName)[0];
  if (vmss) {
    if (!vmss.uniqueId || !vmss.name) throw new KegError('VMSS_INCOMPLETE', `VMSS in ${rg} has no uniqueId or name`);
    const where = `VMSS ${vmss.name}`;
    return { target: { kind: 'vmss', resourceGroup: rg, vmssName: vmss.name, where, uniqueId: vmss.uniqueId }, prefixLength: () => prefixSizeFromTag(vmss, where) };
  }
  const vm = (await azure.listVms(rg)).filter((v) => inPool(v, pool)).sort(byName)[0];
  if (!vm) throw new KegError('VMSS_NOT_FOUND', `no VMSS or VM in resource group ${rg} has tag ${AZURE_TAG_POOL_NAME}=${pool}; check gatewayNodepoolName`);
  // Go names the pool by the name as the spec spells it.
  const where = `VirtualMachines node pool ${pool}`;
  return { target: { kind: 'vmPool', resourceGroup: rg, vmssName: pool, where, uniqueId: vmPoolUniqueId(pool) }, prefixLength: () => prefixSizeFromTag(vm, `VM ${vm.name ?? ''}`) };
}

async function find(azure: Azure, spec: Spec): Promise<Found> {
  const target = gatewayTarget(spec);
  if (target.mode === 'nodepool') return findNodePool(azure, target.nodepoolName);
  const vmss = await azure.getVmss(target.resourceGroup, target.vmssName);
  if (!vmss) throw new KegError('VMSS_NOT_FOUND', `VMSS ${target.vmssName} not found in resource group ${target.resourceGroup}; check gatewayVmssProfile`);
  if (!vmss.uniqueId || !vmss.name) throw new KegError('VMSS_INCOMPLETE', `VMSS in ${target.resourceGroup} has no uniqueId or name`);
  return {
    target: { kind: 'vmss', resourceGroup: target.resourceGroup, vmssName: vmss.name, where: `VMSS ${vmss.name}`, uniqueId: vmss.uniqueId },
    prefixLength: () => target.publicIpPrefixSize,
  };
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
  const found = await find(azure, spec);
  const publicMode = spec.provisionPublicIps && !opts.forDeletion;
  const prefixLength = publicMode ? found.prefixLength() : undefined;
  const byoPrefix = publicMode && spec.publicIpPrefixId ? await checkByoPrefix(azure, spec.publicIpPrefixId, prefixLength) : undefined;
  return { ...found.target, prefixLength, byoPrefix };
}
