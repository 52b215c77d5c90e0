/**
 * When a pod may be wired to an SGC's gateway: the one predicate the
 * operator's condition and the node agent's ADD gate share.
 *
 * Not on Ready: Ready reports the latest reconcile, and a drift check that
 * is throttled or meets one instance mid-update turns it False while the
 * gateway's data path is healthy. Gating pod creation on it made every new
 * pod of the SGC fail for as long as Azure was unhappy. The condition
 * GatewayProfileReady instead says that the profile a pod needs exists: the
 * ILB frontend and rule (ip, port), the key, and at least one gateway IP. It
 * stays True through transient errors and goes False only when that profile
 * is invalid or gone (docs/operator.md).
 */
import { findCondition, isConditionTrue } from '../kube/status.ts';
import type { StaticGatewayConfiguration } from './v1alpha1.ts';

export const PROFILE_CONDITION = 'GatewayProfileReady';

export type ProfileVerdict =
  | { usable: true; ip: string; port: number; publicKey: string }
  | { usable: false; /** Reads after the SGC's name: "is not Ready (...)". */ why: string };

export function gatewayProfileVerdict(sgc: StaticGatewayConfiguration): ProfileVerdict {
  if (sgc.metadata.deletionTimestamp !== undefined) return { usable: false, why: 'is being deleted' };
  const c = findCondition(sgc.status?.conditions, PROFILE_CONDITION);
  if (c) {
    if (c.status !== 'True') return { usable: false, why: `has ${PROFILE_CONDITION}=${c.status} (${c.reason}: ${c.message})` };
  } else if (!isConditionTrue(sgc)) {
    // An operator older than the condition: only its Ready says the profile was provisioned.
    const ready = findCondition(sgc.status?.conditions, 'Ready');
    return { usable: false, why: `is not Ready (${ready ? `${ready.reason}: ${ready.message}` : 'no Ready condition yet'})` };
  }
  const p = sgc.status?.gatewayServerProfile;
  if (!p?.ip || !p.port || !p.publicKey) return { usable: false, why: 'has no complete gatewayServerProfile (ip, port, publicKey)' };
  return { usable: true, ip: p.ip, port: p.port, publicKey: p.publicKey };
}
