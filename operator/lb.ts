/**
 * GatewayLBConfiguration reconciler: the gateway's frontend, backend pool,
 * UDP floating-IP rule and HTTP probe on the shared ILB. All changes to the
 * ILB go through one Batcher lane, so concurrent gateways never overwrite each
 * other's rules and share one write.
 */
import { KINDS } from '../lib/api/constants.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import type { GatewayLBConfiguration, GatewayLBConfigurationStatus } from '../lib/api/v1alpha1.ts';
import { KegError, describeError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import type { KubeRest } from '../lib/kube/rest.ts';
import { patchStatusIfChanged } from '../lib/kube/status.ts';
import type { ReconcileResult } from '../lib/kube/workqueue.ts';
import type { Azure, LoadBalancer } from './azure/client.ts';
import { Batcher, type Outcome } from './batcher.ts';
import { FINALIZERS, hasFinalizer, isDeleting, ownerUid, readyCondition, setFinalizer } from './kube.ts';
import { ensureGateway, frontendIp, isEmpty, newLoadBalancer, removeGateway, type GatewayLb, type LbContext } from './lb-model.ts';
import { REASONS, isUserError, reasonFor } from './reasons.ts';
import { resolveTarget } from './target.ts';

type LbWant = { op: 'ensure'; gw: GatewayLb } | { op: 'remove'; lbConfigUid: string; vmssUniqueId: string | undefined };
interface LbResult {
  ip: string | undefined;
  port: number | undefined;
  /** For a removal: whether the gateway's frontend and pool are gone or still used by another gateway's rule (not held by NICs). */
  clean?: boolean;
}

/** How soon a deletion looks again at a backend pool that NICs still hold. */
const POOL_RELEASE_RETRY_MS = 5_000;

export interface LbReconcilerOptions {
  rest: KubeRest;
  azure: Azure;
  log: Logger;
  get: (namespace: string, name: string) => GatewayLBConfiguration | undefined;
  /** Whether the GatewayVMConfiguration of the same name still exists: its NICs hold the pool. */
  vmConfigExists: (namespace: string, name: string) => boolean;
  batchDelayMs: number;
  /** Retry interval for problems only the user can fix. */
  userErrorRetryMs: number;
  /** The gateway daemons' health probe port. */
  probePort: number;
  /** How often a Ready gateway's frontend, rule and probe are re-read to heal drift (the VM side's interval). */
  requeueMs: number;
}

export class LbReconciler {
  private readonly o: LbReconcilerOptions;
  private readonly ctx: LbContext;
  private readonly batcher: Batcher<LbWant, LbResult>;

  constructor(o: LbReconcilerOptions) {
    this.o = o;
    this.ctx = { lbId: o.azure.loadBalancerId(), subnetId: o.azure.subnetId(), location: o.azure.config.location, probePort: o.probePort };
    this.batcher = new Batcher({ delayMs: o.batchDelayMs, flush: (_key, wants) => this.flush(wants) });
  }

  async reconcile(namespace: string, name: string): Promise<ReconcileResult> {
    const obj = this.o.get(namespace, name);
    if (!obj) return;
    const uid = obj.metadata.uid ?? '';
    if (isDeleting(obj)) {
      if (!hasFinalizer(obj, FINALIZERS.lb)) return;
      // The pool can only go once no NIC is in it: the VM side is removed first.
      if (this.o.vmConfigExists(namespace, name)) return { requeueAfterMs: 2_000 };
      const { clean } = await this.batcher.submit('lb', uid, { op: 'remove', lbConfigUid: uid, vmssUniqueId: await this.uniqueIdForRemoval(obj) });
      if (!clean) {
        // NICs still list the pool (an instance not yet updated, a NIC read lagging): the finalizer stays, or the pool and frontend would leak.
        this.o.log.info('backend pool still in use by NICs; keeping the finalizer', { kind: KINDS.GatewayLBConfiguration, namespace, name });
        return { requeueAfterMs: POOL_RELEASE_RETRY_MS };
      }
      await setFinalizer(this.o.rest, RESOURCES.GatewayLBConfiguration, obj, FINALIZERS.lb, false);
      return;
    }
    await setFinalizer(this.o.rest, RESOURCES.GatewayLBConfiguration, obj, FINALIZERS.lb, true);
    try {
      const target = await resolveTarget(this.o.azure, obj.spec);
      const gw = { lbConfigUid: uid, sgcUid: ownerUid(obj) ?? uid, vmssUniqueId: target.uniqueId };
      const { ip, port } = await this.batcher.submit('lb', uid, { op: 'ensure', gw });
      await this.patchStatus(obj, { frontendIp: ip, serverPort: port }, 'True', REASONS.ready, `rule and probe on load balancer ${this.o.azure.config.loadBalancerName}`);
      // Someone may delete the rule or probe in the portal: the next pass reads the ILB and writes back only what is missing.
      return { requeueAfterMs: this.o.requeueMs };
    } catch (err) {
      await this.patchStatus(obj, { frontendIp: obj.status?.frontendIp, serverPort: obj.status?.serverPort }, 'False', reasonFor(err), describeError(err));
      if (isUserError(err)) return { requeueAfterMs: this.o.userErrorRetryMs };
      throw err;
    }
  }

  /** The VMSS uniqueId names the frontend and pool; after the VMSS is gone, the rule still tells it. */
  private async uniqueIdForRemoval(obj: GatewayLBConfiguration): Promise<string | undefined> {
    try {
      return (await resolveTarget(this.o.azure, obj.spec)).uniqueId;
    } catch (err) {
      this.o.log.debug('VMSS not resolvable during deletion; using the rule', { err });
      return undefined;
    }
  }

  private async patchStatus(obj: GatewayLBConfiguration, fields: Pick<GatewayLBConfigurationStatus, 'frontendIp' | 'serverPort'>, status: 'True' | 'False', reason: string, message: string): Promise<void> {
    const desired: GatewayLBConfigurationStatus = {
      ...fields,
      conditions: readyCondition(obj, obj.status?.conditions, status, reason, message),
      observedGeneration: obj.metadata.generation,
    };
    await patchStatusIfChanged(this.o.rest, RESOURCES.GatewayLBConfiguration, obj, desired);
  }

  /** One read-modify-write of the ILB for every pending gateway. */
  private async flush(wants: ReadonlyMap<string, LbWant>): Promise<Map<string, Outcome<LbResult>>> {
    const existing = await this.o.azure.getLoadBalancer();
    const lb: LoadBalancer = existing ? structuredClone(existing) : newLoadBalancer(this.ctx);
    const out = new Map<string, Outcome<LbResult>>();
    const ports = new Map<string, number>();
    const held = new Set<string>();
    let changed = false;
    for (const [id, want] of [...wants].sort(([a], [b]) => a.localeCompare(b))) {
      try {
        if (want.op === 'ensure') {
          const r = ensureGateway(lb, this.ctx, want.gw);
          ports.set(id, r.port);
          changed ||= r.changed;
        } else {
          const uniqueId = want.vmssUniqueId ?? ruleFrontendName(lb, want.lbConfigUid);
          if (uniqueId) {
            const r = removeGateway(lb, this.ctx, { lbConfigUid: want.lbConfigUid, vmssUniqueId: uniqueId });
            changed = r.changed || changed;
            if (!r.clean) held.add(id);
          }
        }
      } catch (err) {
        out.set(id, err as Error);
      }
    }
    let result: LoadBalancer | undefined = lb;
    if (changed && isEmpty(lb)) {
      await this.o.azure.deleteLoadBalancer();
      result = undefined;
    } else if (changed) {
      result = await this.o.azure.putLoadBalancer(lb);
    }
    for (const [id, want] of wants) {
      if (out.has(id)) continue;
      if (want.op === 'remove') out.set(id, { ip: undefined, port: undefined, clean: !held.has(id) });
      else {
        const ip = result ? frontendIp(result, want.gw.vmssUniqueId) : undefined;
        out.set(id, ip ? { ip, port: ports.get(id) } : new KegError('LB_NO_FRONTEND_IP', `load balancer frontend ${want.gw.vmssUniqueId} has no private IP yet`));
      }
    }
    return out;
  }
}

function ruleFrontendName(lb: LoadBalancer, lbConfigUid: string): string | undefined {
  const rule = (lb.loadBalancingRules ?? []).find((r) => (r.name ?? '').toLowerCase() === lbConfigUid.toLowerCase());
  return rule?.frontendIPConfiguration?.id?.split('/').pop();
}
