/**
 * GatewayVMConfiguration reconciler: the public IP prefix (managed, bring
 * your own, or none in private mode), the secondary ipConfig
 * `egressgateway-<uid>` on the VMSS model and every instance, the primary
 * ipConfig's pool membership, and every instance's IPs in status. Success
 * requeues after a fixed interval, because an in-place VMSS rollout can strip
 * ipConfigs without any Kubernetes event.
 */
import { KINDS, azureResourceName } from '../lib/api/constants.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import type { GatewayVMConfiguration, GatewayVMConfigurationStatus, GatewayVMProfile } from '../lib/api/v1alpha1.ts';
import { KegError, describeError, errorCode } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import type { KubeRest } from '../lib/kube/rest.ts';
import { patchStatusIfChanged } from '../lib/kube/status.ts';
import type { ReconcileResult } from '../lib/kube/workqueue.ts';
import type { Azure, PublicIPPrefix } from './azure/client.ts';
import { FINALIZERS, hasFinalizer, isDeleting, readyCondition, setFinalizer } from './kube.ts';
import { REASONS, isUserError, reasonFor } from './reasons.ts';
import { resolveTarget, type Target } from './target.ts';
import type { NicSync } from './nic-sync.ts';
import { missingIps, type InstanceIps, type VmssSync } from './vmss-sync.ts';

/** Retry interval while some instance lacks its gateway IP: the self-repair writes it again. */
const INCOMPLETE_RETRY_MS = 10_000;

export interface VmReconcilerOptions {
  rest: KubeRest;
  azure: Azure;
  log: Logger;
  sync: VmssSync;
  /** The sync for AKS node pools of type VirtualMachines. */
  nicSync: NicSync;
  get: (namespace: string, name: string) => GatewayVMConfiguration | undefined;
  /** Whether the ILB already has this gateway's pool (its GatewayLBConfiguration has a frontend IP). */
  lbReady: (namespace: string, name: string) => boolean;
  /** Drift healing: how often a Ready gateway is checked against Azure. */
  requeueMs: number;
  userErrorRetryMs: number;
}

export class VmReconciler {
  private readonly o: VmReconcilerOptions;

  constructor(o: VmReconcilerOptions) {
    this.o = o;
  }

  async reconcile(namespace: string, name: string): Promise<ReconcileResult> {
    const obj = this.o.get(namespace, name);
    if (!obj) return;
    if (isDeleting(obj)) {
      if (hasFinalizer(obj, FINALIZERS.vm)) await this.delete(obj);
      return;
    }
    await setFinalizer(this.o.rest, RESOURCES.GatewayVMConfiguration, obj, FINALIZERS.vm, true);
    try {
      const target = await resolveTarget(this.o.azure, obj.spec);
      // The prefix does not depend on the ILB: creating it first overlaps the two slowest writes.
      const prefix = await this.ensurePrefix(obj, target);
      if (!this.o.lbReady(namespace, name)) {
        await this.patchStatus(obj, obj.status ?? {}, 'False', REASONS.waitingForLoadBalancer, 'waiting for the load balancer backend pool');
        return;
      }
      const ipName = azureResourceName(obj.metadata.uid ?? '');
      const instances = await this.syncOf(target).apply(target, { name: ipName, present: true, prefixId: prefix?.id });
      // A gateway switched to BYO or private mode leaves its managed prefix behind; it is no longer referenced now.
      if (!prefix || target.byoPrefix) await this.deleteManagedPrefix(ipName);
      const profiles = profilesOf(instances, ipName);
      const egressIpPrefix = prefix ? prefix.ipPrefix : profiles.map((p) => p.secondaryIP).join(',');
      const problems = instances.flatMap((i) => problemOf(i, ipName));
      if (problems.length > 0) {
        // The instances that work stay in status (their traffic flows); the gateway is not Ready until every one does.
        await this.patchStatus(obj, { egressIpPrefix, gatewayVMProfiles: profiles }, 'False', REASONS.instanceIncomplete,
          `${problems.length} of ${instances.length} instance(s) of ${target.where} not ready: ${problems.join('; ')}`);
        return { requeueAfterMs: Math.min(this.o.requeueMs, INCOMPLETE_RETRY_MS) };
      }
      await this.patchStatus(obj, { egressIpPrefix, gatewayVMProfiles: profiles }, 'True', REASONS.ready, `${profiles.length} gateway instance(s) of ${target.where}`);
      return { requeueAfterMs: this.o.requeueMs };
    } catch (err) {
      await this.patchStatus(obj, obj.status ?? {}, 'False', reasonFor(err), describeError(err));
      if (isUserError(err)) return { requeueAfterMs: this.o.userErrorRetryMs };
      throw err;
    }
  }

  private syncOf(target: Target): VmssSync | NicSync {
    return target.kind === 'vmPool' ? this.o.nicSync : this.o.sync;
  }

  /** Managed prefix: created once under its deterministic name, so a crash mid-create adopts it instead of leaking a twin. */
  private async ensurePrefix(obj: GatewayVMConfiguration, target: Target): Promise<PublicIPPrefix | undefined> {
    if (!obj.spec.provisionPublicIps) return undefined;
    if (target.byoPrefix) return target.byoPrefix;
    const { resourceGroup, location } = this.o.azure.config;
    const name = azureResourceName(obj.metadata.uid ?? '');
    const existing = await this.o.azure.getPublicIpPrefix(resourceGroup, name);
    if (existing?.ipPrefix) return existing;
    if (target.prefixLength === undefined) throw new KegError('PREFIX_SIZE_INVALID', 'no prefix length: set gatewayVmssProfile.publicIpPrefixSize');
    return this.o.azure.putPublicIpPrefix(resourceGroup, name, {
      location, sku: { name: 'Standard', tier: 'Regional' }, prefixLength: target.prefixLength, publicIPAddressVersion: 'IPv4',
    });
  }

  /** Removes the ipConfig everywhere, then the managed prefix (never a BYO one), then the finalizer. */
  private async delete(obj: GatewayVMConfiguration): Promise<void> {
    const ipName = azureResourceName(obj.metadata.uid ?? '');
    let target: Target | undefined;
    try {
      target = await resolveTarget(this.o.azure, obj.spec, { forDeletion: true });
    } catch (err) {
      if (errorCode(err) !== 'VMSS_NOT_FOUND') throw err;
      this.o.log.info('gateway VMSS is gone; nothing to remove from it', { kind: KINDS.GatewayVMConfiguration, namespace: obj.metadata.namespace, name: obj.metadata.name, err });
    }
    if (target) {
      const problems = (await this.syncOf(target).apply(target, { name: ipName, present: false })).flatMap((i) => (i.problem ? [i.problem] : []));
      // The finalizer stays until every instance has dropped the ipConfig: removing it now would leak the ipConfig and its public IP.
      if (problems.length > 0) throw new KegError('VMSS_INSTANCE_UPDATE_FAILED', `removing ipConfig ${ipName}: ${problems.join('; ')}`);
    }
    await this.deleteManagedPrefix(ipName);
    await setFinalizer(this.o.rest, RESOURCES.GatewayVMConfiguration, obj, FINALIZERS.vm, false);
  }

  /** Deletes the managed prefix if there is one: a read first, so the steady state stays free of writes. */
  private async deleteManagedPrefix(name: string): Promise<void> {
    const rg = this.o.azure.config.resourceGroup;
    if (await this.o.azure.getPublicIpPrefix(rg, name)) await this.o.azure.deletePublicIpPrefix(rg, name);
  }

  private async patchStatus(obj: GatewayVMConfiguration, fields: Pick<GatewayVMConfigurationStatus, 'egressIpPrefix' | 'gatewayVMProfiles'>, status: 'True' | 'False', reason: string, message: string): Promise<void> {
    const desired: GatewayVMConfigurationStatus = {
      ...(fields.egressIpPrefix !== undefined ? { egressIpPrefix: fields.egressIpPrefix } : {}),
      ...(fields.gatewayVMProfiles ? { gatewayVMProfiles: fields.gatewayVMProfiles } : {}),
      conditions: readyCondition(obj, obj.status?.conditions, status, reason, message),
      observedGeneration: obj.metadata.generation,
    };
    await patchStatusIfChanged(this.o.rest, RESOURCES.GatewayVMConfiguration, obj, desired);
  }
}

/** This gateway's problem with an instance: its write or read failed, or its NIC still lacks the primary IP or this gateway's IP. */
function problemOf(i: InstanceIps, ipName: string): string[] {
  if (i.problem) return [i.problem];
  const missing = missingIps(i, [{ name: ipName, present: true }]);
  return missing.length > 0 ? [`instance ${i.nodeName}: its NIC has no ${missing.join(' and no ')} after the update`] : [];
}

/** A profile for every instance that has its secondary IP; those without one are problems (problemOf), never silently absent. */
function profilesOf(instances: InstanceIps[], ipName: string): GatewayVMProfile[] {
  const out: GatewayVMProfile[] = [];
  for (const i of instances) {
    const secondaryIP = i.ipByConfig.get(ipName.toLowerCase());
    if (!secondaryIP) continue;
    out.push({ nodeName: i.nodeName, ...(i.primaryIP ? { primaryIP: i.primaryIP } : {}), secondaryIP });
  }
  return out.sort((a, b) => a.nodeName.localeCompare(b.nodeName));
}
