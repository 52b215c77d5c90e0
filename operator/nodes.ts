/**
 * The gateway nodes: a Node labelled as a gateway that appears or goes away
 * re-reconciles the GatewayVMConfigurations of its pool at once, instead of
 * at the next drift requeue (as the Go VM controller does), and a deleted
 * node's GatewayStatus is removed with it.
 */
import { z } from 'zod';
import { GATEWAY_NODE_LABEL, GATEWAY_NODE_LABEL_VALUE } from '../lib/api/constants.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import type { GatewayVMConfiguration } from '../lib/api/v1alpha1.ts';
import { Informer } from '../lib/kube/informer.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { isNotFound, type KubeRest } from '../lib/kube/rest.ts';
import type { Logger } from '../lib/log.ts';

/** The two labels the Go original recognises gateway nodes by (no OR in label selectors: one watch each). */
export const GATEWAY_NODE_SELECTORS = [`${GATEWAY_NODE_LABEL}=${GATEWAY_NODE_LABEL_VALUE}`, 'kubernetes.azure.com/mode=gateway'];
/** The AKS node pool a node belongs to. */
export const AGENTPOOL_LABEL = 'kubernetes.azure.com/agentpool';

const GatewayNodeSchema = z.object({
  metadata: z.object({ name: z.string(), resourceVersion: z.string().optional(), labels: z.record(z.string(), z.string()).default({}) }),
});
export type GatewayNode = z.output<typeof GatewayNodeSchema>;

export interface GatewayNodesOptions {
  rest: KubeRest;
  log: Logger;
  /** Every GatewayVMConfiguration known to the cache. */
  vmConfigs: () => GatewayVMConfiguration[];
  /** Queues one GatewayVMConfiguration's reconcile. */
  enqueue: (namespace: string, name: string) => void;
  /** Where the gateway daemons keep their GatewayStatus (one per node, named after it); undefined: left alone. */
  statusNamespace: string | undefined;
}

export class GatewayNodes {
  readonly informers: Informer<GatewayNode>[];
  private readonly o: GatewayNodesOptions;

  constructor(o: GatewayNodesOptions) {
    this.o = o;
    this.informers = GATEWAY_NODE_SELECTORS.map((labelSelector) => new Informer<GatewayNode>({
      rest: o.rest, log: o.log, type: CORE.nodes, labelSelector, resyncMs: 0, parse: (x) => GatewayNodeSchema.parse(x),
    }).on({
      add: (n) => this.changed(n),
      delete: (n) => {
        this.changed(n);
        void this.deleteStatus(n.metadata.name);
      },
    }));
  }

  /**
   * Node-pool gateways re-reconcile only when the node is of their pool (or
   * its pool is unknown); VMSS-profile gateways always (a node does not name its VMSS).
   */
  private changed(n: GatewayNode): void {
    const pool = n.metadata.labels[AGENTPOOL_LABEL]?.toLowerCase();
    for (const vm of this.o.vmConfigs()) {
      const wanted = vm.spec.gatewayNodepoolName?.toLowerCase();
      if (pool !== undefined && wanted !== undefined && wanted !== pool) continue;
      this.o.enqueue(vm.metadata.namespace ?? '', vm.metadata.name);
    }
  }

  private async deleteStatus(node: string): Promise<void> {
    const ns = this.o.statusNamespace;
    if (ns === undefined) return;
    try {
      await this.o.rest.delete(resourcePath(RESOURCES.GatewayStatus, ns, node));
      this.o.log.info('deleted the GatewayStatus of a removed gateway node', { node });
    } catch (err) {
      if (!isNotFound(err)) this.o.log.warn('cannot delete the GatewayStatus of a removed gateway node', { node, err });
    }
  }
}
