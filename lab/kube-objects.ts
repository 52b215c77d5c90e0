import { GATEWAY_NODE_LABEL, GATEWAY_NODE_LABEL_VALUE, GATEWAY_NODE_TAINT } from '../lib/api/constants.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { isConflict, type KubeRest } from '../lib/kube/rest.ts';

export const SYSTEM_NAMESPACE = 'kube-egress-gateway-system';

/** A Node object as the kubelet and cloud provider would register it. */
export async function registerNode(rest: KubeRest, p: { name: string; ip: string; gateway: boolean; podCIDR?: string }): Promise<void> {
  const body = {
    metadata: {
      name: p.name,
      labels: { 'kubernetes.io/hostname': p.name, ...(p.gateway ? { [GATEWAY_NODE_LABEL]: GATEWAY_NODE_LABEL_VALUE } : {}) },
    },
    spec: {
      ...(p.podCIDR ? { podCIDR: p.podCIDR, podCIDRs: [p.podCIDR] } : {}),
      ...(p.gateway ? { taints: [GATEWAY_NODE_TAINT] } : {}),
    },
  };
  await rest.create(resourcePath(CORE.nodes), body).catch((err: unknown) => {
    if (!isConflict(err)) throw err;
  });
  const status = {
    status: {
      addresses: [{ type: 'InternalIP', address: p.ip }, { type: 'Hostname', address: p.name }],
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'lab node', lastHeartbeatTime: new Date().toISOString(), lastTransitionTime: new Date().toISOString() }],
    },
  };
  await rest.patch(resourcePath(CORE.nodes, undefined, p.name, 'status'), status, 'merge');
}
