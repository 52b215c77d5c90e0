import { KINDS } from '../../lib/api/constants.ts';
import { RESOURCES } from '../../lib/api/resources.ts';
import { parseObject, StaticGatewayConfigurationSchema, type StaticGatewayConfiguration } from '../../lib/api/v1alpha1.ts';
import { gatewayProfileVerdict } from '../../lib/api/gateway-profile.ts';
import { Informer } from '../../lib/kube/informer.ts';
import { CORE } from '../../lib/kube/paths.ts';
import type { KubeRest } from '../../lib/kube/rest.ts';
import type { Logger } from '../../lib/log.ts';
import type { PodRef } from '../protocol.ts';
import { fetchPod, type Pod, PodSchema } from './endpoints.ts';
import { fetchSgc } from './gateway.ts';

export interface AddCacheOptions {
  rest: KubeRest;
  log: Logger;
  nodeName: string;
}

/**
 * This node's Pods and every SGC, kept by watches, so that an ADD reads
 * them without an API round trip and its one API call is the PodEndpoint's
 * write. Whatever the cache cannot vouch for is read from the API as before:
 * a Pod not seen yet, or whose UID differs from the runtime's K8S_POD_UID (a
 * newer Pod of the same name), or any Pod when the runtime passes no UID;
 * an SGC not seen yet, or not usable (it may have just become so).
 */
export class AddCache {
  private readonly o: AddCacheOptions;
  private readonly pods: Informer<Pod>;
  private readonly sgcs: Informer<StaticGatewayConfiguration>;

  constructor(opts: AddCacheOptions) {
    this.o = opts;
    const common = { rest: opts.rest, log: opts.log };
    this.pods = new Informer({ ...common, type: CORE.pods, fieldSelector: `spec.nodeName=${opts.nodeName}`, parse: (o) => PodSchema.parse(o) });
    this.sgcs = new Informer({ ...common, type: RESOURCES[KINDS.StaticGatewayConfiguration], parse: (o) => parseObject(StaticGatewayConfigurationSchema, o) });
  }

  /** Starts the watches; resolves once both have listed. Until then every read goes to the API. */
  async start(): Promise<void> {
    await Promise.all([this.pods.start(), this.sgcs.start()]);
  }

  async stop(): Promise<void> {
    await Promise.all([this.pods.stop(), this.sgcs.stop()]);
  }

  async pod(ref: PodRef, uid: string | undefined): Promise<Pod> {
    const cached = this.pods.get(ref.namespace, ref.name);
    return uid !== undefined && cached?.metadata.uid === uid ? cached : fetchPod(this.o.rest, ref);
  }

  async sgc(namespace: string, name: string): Promise<StaticGatewayConfiguration> {
    const cached = this.sgcs.get(namespace, name);
    return cached !== undefined && gatewayProfileVerdict(cached).usable ? cached : fetchSgc(this.o.rest, namespace, name);
  }
}
