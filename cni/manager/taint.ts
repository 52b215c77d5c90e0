import { CNI_NOT_READY_TAINT } from '../../lib/api/constants.ts';
import { KubeApiError, type KubeRest } from '../../lib/kube/rest.ts';
import { CORE, resourcePath } from '../../lib/kube/paths.ts';

interface Taint {
  key: string;
  effect?: string;
  value?: string;
}

/**
 * Removes the taint `egressgateway.kubernetes.azure.com/cni-not-ready` from
 * this node, as the Go original does once the plugin is chained: a node pool
 * created with it takes pods only once they can be wired. A JSON patch that
 * tests the entry before removing it, so a concurrent change to the node's
 * other taints is never overwritten; a lost race is read again. Returns
 * whether a taint was removed (false: it was not there, which is success).
 */
export async function removeNotReadyTaint(rest: KubeRest, nodeName: string): Promise<boolean> {
  const path = resourcePath(CORE.nodes, undefined, nodeName);
  for (let attempt = 0; ; attempt++) {
    const node = await rest.get<{ spec?: { taints?: Taint[] } }>(path);
    const taints = node.spec?.taints ?? [];
    const i = taints.findIndex((t) => t.key === CNI_NOT_READY_TAINT);
    if (i < 0) return false;
    try {
      await rest.patch(path, [{ op: 'test', path: `/spec/taints/${i}`, value: taints[i] }, { op: 'remove', path: `/spec/taints/${i}` }], 'json');
      return true;
    } catch (err) {
      // 422: the test failed because the taints changed under us.
      if (!(err instanceof KubeApiError && err.status === 422) || attempt >= 4) throw err;
    }
  }
}
