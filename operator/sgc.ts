/**
 * StaticGatewayConfiguration reconciler. Needs no Azure: it keeps the key
 * Secret and the two internal configurations (same namespace and name,
 * controlled by the SGC) in place, and folds their status into the SGC's.
 * Deletion is ordered: the VM side first (its NICs hold the pool), then the
 * LB side, then the Secret, then the finalizer.
 */
import { z } from 'zod';
import { API_VERSION, KINDS, gatewaySecretName } from '../lib/api/constants.ts';
import { PROFILE_CONDITION } from '../lib/api/gateway-profile.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import {
  ConditionSchema, ObjectMetaSchema, StaticGatewayConfigurationSchema, parseObject,
  type GatewayLBConfiguration, type GatewayVMConfiguration, type ObjectMeta, type StaticGatewayConfiguration, type StaticGatewayConfigurationStatus,
} from '../lib/api/v1alpha1.ts';
import { describeError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import { resourcePath, type ResourceType } from '../lib/kube/paths.ts';
import { isNotFound, type KubeRest } from '../lib/kube/rest.ts';
import { findCondition, patchStatusIfChanged, setCondition, type Condition } from '../lib/kube/status.ts';
import type { ReconcileResult } from '../lib/kube/workqueue.ts';
import type { EventRecorder } from './events.ts';
import { FINALIZERS, controllerRef, hasFinalizer, isDeleting, readyCondition, sameJson, setFinalizer } from './kube.ts';
import { warnPodsOfDeletedGateway } from './in-use.ts';
import { REASONS, reasonFor } from './reasons.ts';
import { deleteKeySecret, ensureKeySecret } from './secret.ts';
import type { GatewayReports } from './gateway-reports.ts';

/** An SGC as the informer holds it: parsed, or with the reason it does not parse (so it can be told so). */
export interface SgcItem {
  metadata: ObjectMeta;
  sgc: StaticGatewayConfiguration | undefined;
  problem: string | undefined;
  conditions: Condition[] | undefined;
}

const Raw = z.object({ metadata: ObjectMetaSchema, status: z.object({ conditions: z.array(ConditionSchema).optional() }).loose().optional() }).loose();

export function parseSgcItem(raw: unknown): SgcItem {
  const base = Raw.parse(raw);
  try {
    const sgc = parseObject(StaticGatewayConfigurationSchema, raw);
    return { metadata: sgc.metadata, sgc, problem: undefined, conditions: sgc.status?.conditions };
  } catch (err) {
    return { metadata: base.metadata, sgc: undefined, problem: describeError(err), conditions: base.status?.conditions };
  }
}

export interface SgcReconcilerOptions {
  rest: KubeRest;
  log: Logger;
  events: EventRecorder;
  /** The operator's namespace: key Secrets live there. */
  namespace: string;
  get: (namespace: string, name: string) => SgcItem | undefined;
  getLb: (namespace: string, name: string) => GatewayLBConfiguration | undefined;
  getVm: (namespace: string, name: string) => GatewayVMConfiguration | undefined;
  /** Seconds from an SGC's creation to its first Ready. */
  becameReady: (seconds: number) => void;
  /** The gateway nodes' reports, summed up in the status; undefined: no such fields. */
  gateways?: Pick<GatewayReports, 'fields' | 'forget'> | undefined;
}

/**
 * A Ready condition that has been False since the SGC's first reconcile
 * changed last within this of the creation: a later drop (after a Ready)
 * changes it later, so that Ready is not a first one.
 */
const FIRST_RECONCILE_SECONDS = 60;

/** True when `before` (the Ready condition before this write) says the SGC never was Ready. */
function neverReady(before: Condition | undefined, metadata: ObjectMeta): boolean {
  if (!before) return true;
  const created = Date.parse(metadata.creationTimestamp ?? '');
  return before.status !== 'True' && Date.parse(before.lastTransitionTime) - created <= FIRST_RECONCILE_SECONDS * 1000;
}

interface Readiness {
  status: 'True' | 'False';
  reason: string;
  message: string;
}

const asEventTarget = (metadata: ObjectMeta) => ({ apiVersion: API_VERSION, kind: KINDS.StaticGatewayConfiguration, metadata });

export class SgcReconciler {
  private readonly o: SgcReconcilerOptions;
  /** SGC UIDs whose deletion was already warned about (a deletion takes several reconciles). */
  private readonly warned = new Set<string>();
  /** SGC UIDs whose first Ready was measured: the informer may deliver the old status once more. */
  private readonly measured = new Set<string>();

  constructor(o: SgcReconcilerOptions) {
    this.o = o;
  }

  async reconcile(namespace: string, name: string): Promise<ReconcileResult> {
    const item = this.o.get(namespace, name);
    if (!item) return;
    if (isDeleting(item)) return this.delete(item);
    if (!item.sgc) {
      const invalid: Readiness = { status: 'False', reason: REASONS.invalidSpec, message: item.problem ?? 'invalid spec' };
      await this.setStatus(item, {}, invalid, invalid);
      return;
    }
    const sgc = item.sgc;
    await setFinalizer(this.o.rest, RESOURCES.StaticGatewayConfiguration, sgc, FINALIZERS.sgc, true);
    let publicKey: string;
    try {
      publicKey = await ensureKeySecret(this.o.rest, this.o.namespace, { namespace, name, uid: sgc.metadata.uid ?? '' });
    } catch (err) {
      await this.setStatus(item, sgc.status ?? {}, { status: 'False', reason: reasonFor(err), message: describeError(err) });
      throw err;
    }
    await this.ensureChild(sgc, RESOURCES.GatewayLBConfiguration, KINDS.GatewayLBConfiguration, this.o.getLb(namespace, name));
    await this.ensureChild(sgc, RESOURCES.GatewayVMConfiguration, KINDS.GatewayVMConfiguration, this.o.getVm(namespace, name));
    const lb = this.o.getLb(namespace, name);
    const vm = this.o.getVm(namespace, name);
    const report = this.o.gateways?.fields(sgc, (vm?.status?.gatewayVMProfiles ?? []).map((p) => p.nodeName));
    const status: StaticGatewayConfigurationStatus = {
      ...(vm?.status?.egressIpPrefix !== undefined ? { egressIpPrefix: vm.status.egressIpPrefix } : {}),
      gatewayServerProfile: {
        ...(lb?.status?.frontendIp ? { ip: lb.status.frontendIp } : {}),
        ...(lb?.status?.serverPort ? { port: lb.status.serverPort } : {}),
        publicKey,
        privateKeySecretRef: { apiVersion: 'v1', kind: 'Secret', name: gatewaySecretName(sgc.metadata.uid ?? ''), namespace: this.o.namespace },
      },
      ...report?.fields,
    };
    await this.setStatus(item, status, readiness(lb, vm), profileReadiness(lb, vm));
    if (report?.requeueAfterMs !== undefined) return { requeueAfterMs: report.requeueAfterMs };
  }

  private async delete(item: SgcItem): Promise<ReconcileResult> {
    if (!hasFinalizer(item, FINALIZERS.sgc)) return;
    const { namespace, name, uid } = item.metadata;
    if (!this.warned.has(uid ?? name)) {
      this.warned.add(uid ?? name);
      await warnPodsOfDeletedGateway(this.o.rest, this.o.events, this.o.log, item.metadata);
    }
    if (await this.deleteChild(RESOURCES.GatewayVMConfiguration, this.o.getVm(namespace, name))) return;
    if (await this.deleteChild(RESOURCES.GatewayLBConfiguration, this.o.getLb(namespace, name))) return;
    await deleteKeySecret(this.o.rest, this.o.namespace, uid ?? '');
    await setFinalizer(this.o.rest, RESOURCES.StaticGatewayConfiguration, item, FINALIZERS.sgc, false);
    this.warned.delete(uid ?? name);
    this.measured.delete(uid ?? name);
    this.o.gateways?.forget(namespace, name);
    this.o.log.info('gateway deleted', { kind: KINDS.StaticGatewayConfiguration, namespace, name });
  }

  /** Deletes a child if it is still there; true while it exists (its own finalizer cleans Azure first). */
  private async deleteChild(rt: ResourceType, child: { metadata: ObjectMeta } | undefined): Promise<boolean> {
    if (!child) return false;
    if (!isDeleting(child)) {
      try {
        await this.o.rest.delete(resourcePath(rt, child.metadata.namespace, child.metadata.name));
      } catch (err) {
        if (!isNotFound(err)) throw err;
        return false;
      }
    }
    return true;
  }

  private async ensureChild(sgc: StaticGatewayConfiguration, rt: ResourceType, kind: string, existing: GatewayLBConfiguration | GatewayVMConfiguration | undefined): Promise<void> {
    const { gatewayNodepoolName, gatewayVmssProfile, provisionPublicIps, publicIpPrefixId } = sgc.spec;
    const spec = JSON.parse(JSON.stringify({ gatewayNodepoolName, gatewayVmssProfile, provisionPublicIps, publicIpPrefixId })) as object;
    const { namespace, name } = sgc.metadata;
    if (!existing) {
      const owner = { apiVersion: API_VERSION, kind: KINDS.StaticGatewayConfiguration, metadata: sgc.metadata };
      const body = { apiVersion: API_VERSION, kind, metadata: { name, namespace, ownerReferences: [controllerRef(owner)] }, spec };
      await this.o.rest.create(resourcePath(rt, namespace), body);
    } else if (!sameJson(existing.spec, spec)) {
      // Replace the spec wholesale: merge patch cannot drop a field, and a dropped publicIpPrefixId must go.
      await this.o.rest.patch(resourcePath(rt, namespace, name), [{ op: 'replace', path: '/spec', value: spec }], 'json');
    }
  }

  /** `profile` undefined keeps the GatewayProfileReady condition as it is (a failure that says nothing about the profile). */
  private async setStatus(item: SgcItem, fields: StaticGatewayConfigurationStatus, ready: Readiness, profile?: Readiness): Promise<void> {
    const before = findCondition(item.conditions, 'Ready');
    let conditions = readyCondition(item, item.conditions, ready.status, ready.reason, ready.message);
    if (profile) conditions = setCondition(conditions, { type: PROFILE_CONDITION, ...profile, observedGeneration: item.metadata.generation });
    const desired: StaticGatewayConfigurationStatus = {
      ...fields,
      conditions,
      observedGeneration: item.metadata.generation,
    };
    const current = { ...item.sgc?.status, conditions: item.conditions };
    await patchStatusIfChanged(this.o.rest, RESOURCES.StaticGatewayConfiguration, { metadata: item.metadata, status: current }, desired);
    const { uid, creationTimestamp } = item.metadata;
    if (ready.status === 'True' && neverReady(before, item.metadata) && uid && creationTimestamp && !this.measured.has(uid)) {
      this.measured.add(uid);
      this.o.becameReady((Date.now() - Date.parse(creationTimestamp)) / 1000);
    }
    if (before?.status !== ready.status || before.reason !== ready.reason) {
      await this.o.events.record(asEventTarget(item.metadata), ready.status === 'True' || ready.reason === REASONS.provisioning ? 'Normal' : 'Warning', ready.reason, ready.message);
    }
  }
}

/** Ready when both sides are Ready for their current generation; otherwise the first side's problem. */
function readiness(lb: GatewayLBConfiguration | undefined, vm: GatewayVMConfiguration | undefined): Readiness {
  const sides = [['load balancer', lb], ['gateway VMSS', vm]] as const;
  for (const [what, obj] of sides) {
    const c = findCondition(obj?.status?.conditions, 'Ready');
    if (c?.status === 'False' && c.reason !== REASONS.waitingForLoadBalancer) return { status: 'False', reason: c.reason, message: `${what}: ${c.message}` };
  }
  for (const [what, obj] of sides) {
    const c = findCondition(obj?.status?.conditions, 'Ready');
    if (c?.status !== 'True' || c.observedGeneration !== obj?.metadata.generation) {
      return { status: 'False', reason: REASONS.provisioning, message: `waiting for the ${what}` };
    }
  }
  return { status: 'True', reason: REASONS.ready, message: 'gateway provisioned' };
}

/**
 * GatewayProfileReady: True while what a pod needs exists (ILB frontend and
 * rule, and a gateway IP; the key is in hand whenever this is computed),
 * whatever the latest reconcile's outcome. Both sides keep their status
 * fields through Azure errors and one failing instance never drops the
 * others, so this goes False only when the profile is not (or no longer) there.
 */
function profileReadiness(lb: GatewayLBConfiguration | undefined, vm: GatewayVMConfiguration | undefined): Readiness {
  const ips = (vm?.status?.gatewayVMProfiles ?? []).filter((p) => p.secondaryIP).length;
  const missing = [
    ...(lb?.status?.frontendIp && lb.status.serverPort ? [] : ['the load balancer frontend and rule']),
    ...(ips > 0 ? [] : ['a gateway IP on a gateway instance']),
  ];
  if (missing.length > 0) return { status: 'False', reason: REASONS.provisioning, message: `waiting for ${missing.join(' and ')}` };
  return { status: 'True', reason: REASONS.provisioned, message: `frontend ${lb?.status?.frontendIp ?? ''}:${lb?.status?.serverPort ?? ''}, ${ips} gateway IP(s)` };
}
