import type { SgcRef } from '../lib/api/sharing.ts';
import type { PodEndpoint, StaticGatewayConfiguration } from '../lib/api/v1alpha1.ts';
import type { InspectAnswer } from '../cni/protocol.ts';

/**
 * Everything doctor read about one pod, from the API and the node agent.
 * The verdict (verdict.ts) is a pure function of this, so each finding is
 * tested without a cluster.
 */
export interface DoctorFacts {
  /** When doctor looked (handshake ages are measured from it). */
  now: Date;
  pod: { namespace: string; name: string };
  /** undefined: no such Pod. */
  found?: PodFacts;
  /** What the annotation names; `invalid` carries the parse error. */
  ref?: SgcRef | { invalid: string };
  /** null: the SGC does not exist. */
  sgc?: StaticGatewayConfiguration | null;
  /** Whether the SGC's allow list admits the pod's namespace. */
  namespaceAllowed?: boolean;
  /** null: the pod has no PodEndpoint. */
  endpoint?: PodEndpoint | null;
  /** The SGC's gateway on each gateway node, from GatewayStatus objects. */
  gateways: GatewayFacts[];
  /** The node agent on the pod's node; undefined when the pod is on no node yet. */
  agent?: AgentFacts;
}

export interface PodFacts {
  annotation?: string;
  node?: string;
  ip?: string;
  phase?: string;
  createdAt?: string;
  /** The pod's node carries the cni-not-ready taint (the agent has not chained the plugin). */
  nodeNotReadyTaint: boolean;
}

export interface GatewayFacts {
  node: string;
  /** The node's InternalIP, to tell which node a pinned tunnel goes to. */
  nodeIp?: string;
  ready: boolean;
  peerCount?: number;
  lastProgrammed?: string;
  message?: string;
  /** This pod's PodEndpoint is refused there, with the gateway's reason. */
  refused?: string;
}

export interface AgentFacts {
  node: string;
  /** The agent's Pod on that node; undefined when there is none. */
  pod?: string;
  ready: boolean;
  /** What the agent answered (cni-manager inspect), or why it could not be asked. */
  inspection?: InspectAnswer | { error: string };
}
