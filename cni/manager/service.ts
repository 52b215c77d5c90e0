import { POD_SGC_ANNOTATION } from '../../lib/api/constants.ts';
import type { KubeRest } from '../../lib/kube/rest.ts';
import type { Logger } from '../../lib/log.ts';
import { CNI_CODES, type AddRequest, type DelRequest, type GatewayConfig, type PodInfo, type PodRef } from '../protocol.ts';
import type { Exclusions } from './exclusions.ts';
import { deleteEndpoint, fetchPod, sgcAnnotation, upsertEndpoint } from './endpoints.ts';
import { AgentFailure } from './failure.ts';
import { fetchSgc, gatewayConfig } from './gateway.ts';
import type { PodStore } from './pods.ts';

/** The agent's answers to the plugin; the socket server only routes and validates. */
export class CniService {
  private readonly rest: KubeRest;
  private readonly exclusions: Exclusions;
  private readonly pods: PodStore;
  private readonly log: Logger;

  constructor(opts: { rest: KubeRest; exclusions: Exclusions; pods: PodStore; log: Logger }) {
    this.rest = opts.rest;
    this.exclusions = opts.exclusions;
    this.pods = opts.pods;
    this.log = opts.log;
  }

  async pod(ref: PodRef): Promise<PodInfo> {
    const sgc = sgcAnnotation(await fetchPod(this.rest, ref));
    return sgc === undefined ? {} : { staticGatewayConfiguration: sgc };
  }

  /**
   * Checks the SGC, records the pod, then creates its PodEndpoint (so a crash
   * in between leaves a record that DEL can clean up) and answers with the gateway.
   */
  async add(req: AddRequest): Promise<GatewayConfig> {
    const pod = await fetchPod(this.rest, req.pod);
    const name = sgcAnnotation(pod);
    if (name === undefined) throw new AgentFailure(CNI_CODES.invalidConfig, `pod ${req.pod.namespace}/${req.pod.name} has no ${POD_SGC_ANNOTATION} annotation`);
    if (req.staticGatewayConfiguration !== undefined && req.staticGatewayConfiguration !== name) {
      throw new AgentFailure(CNI_CODES.invalidConfig, `pod ${req.pod.namespace}/${req.pod.name}: runtime says SGC ${req.staticGatewayConfiguration}, the Pod says ${name}`);
    }
    const sgc = await fetchSgc(this.rest, req.pod.namespace, name);
    const cfg = gatewayConfig(sgc, await this.exclusions.get());
    this.pods.write(req.containerId, {
      containerId: req.containerId, namespace: req.pod.namespace, name: req.pod.name, staticGatewayConfiguration: name,
      ...(sgc.metadata.uid !== undefined && { sgcUid: sgc.metadata.uid }), netns: req.netns,
      podIpAddress: req.podIpAddress, podPublicKey: req.podPublicKey,
      gatewayPublicKey: cfg.gatewayPublicKey, gatewayEndpoint: `${cfg.gatewayIp}:${cfg.gatewayPort}`,
    });
    try {
      await upsertEndpoint(this.rest, pod, { staticGatewayConfiguration: name, podIpAddress: req.podIpAddress, podPublicKey: req.podPublicKey });
    } catch (err) {
      // The plugin fails this ADD and writes no record of its own: nothing would ever DEL this one.
      this.pods.remove(req.containerId);
      throw err;
    }
    this.log.info('pod endpoint created', { pod: `${req.pod.namespace}/${req.pod.name}`, sgc: name, podIp: req.podIpAddress });
    return cfg;
  }

  /** Deletes the container's PodEndpoint; an unknown container is success (idempotent DEL). */
  async del(req: DelRequest): Promise<Record<string, never>> {
    const known = this.pods.read(req.containerId);
    if (known === undefined) return {};
    await deleteEndpoint(this.rest, { namespace: known.namespace, name: known.name }, known.podPublicKey);
    this.pods.remove(req.containerId);
    this.log.info('pod endpoint deleted', { pod: `${known.namespace}/${known.name}` });
    return {};
  }
}
