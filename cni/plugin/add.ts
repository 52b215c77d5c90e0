import { POD_SGC_ANNOTATION } from '../../lib/api/constants.ts';
import { CNI_CODES } from '../protocol.ts';
import { type PluginContext, podRef } from './context.ts';
import { forget } from './del.ts';
import type { Marker } from './records.ts';
import { ANNOTATIONS_CAPABILITY, CniError, podIpv4, type Result } from './spec.ts';

/**
 * The SGC the pod names, or undefined for a plain pod. The runtime's
 * annotations capability answers without the agent, so plain pods never
 * depend on it; without the capability the agent reads the Pod.
 */
async function sgcOf(ctx: PluginContext, pod: { namespace: string; name: string } | undefined): Promise<string | undefined> {
  const annotations = ctx.conf.runtimeConfig?.[ANNOTATIONS_CAPABILITY];
  if (annotations !== undefined) return annotations[POD_SGC_ANNOTATION] || undefined;
  if (pod === undefined) return undefined;
  return (await ctx.agent.pod(pod, `pod ${pod.namespace}/${pod.name}`)).staticGatewayConfiguration;
}

/**
 * ADD: plain pods pass prevResult through; annotated pods are wired by the
 * node agent, which runs with the tools the host may lack. The marker is
 * written first, so a DEL after a crash here still reaches the agent.
 */
export async function add(ctx: PluginContext): Promise<Result> {
  const prev = ctx.conf.prevResult;
  if (prev === undefined) throw new CniError(CNI_CODES.invalidConfig, `${ctx.conf.type} is a chained plugin: it needs a prevResult from a primary plugin`);
  const pod = podRef(ctx.env);
  const sgc = await sgcOf(ctx, pod);
  if (sgc === undefined) return prev;
  if (pod === undefined) throw new CniError(CNI_CODES.invalidEnv, 'an annotated pod needs K8S_POD_NAMESPACE and K8S_POD_NAME in CNI_ARGS');
  const podIp = podIpv4(prev);
  if (podIp === undefined) throw new CniError(CNI_CODES.invalidConfig, `pod ${pod.namespace}/${pod.name} has no IPv4 address in prevResult`);
  const marker: Marker = { containerId: ctx.env.containerId as string, network: ctx.conf.name, ifname: ctx.env.ifname as string, netns: ctx.env.netns as string, pod };
  ctx.records.write(marker.containerId, marker);
  let wired;
  try {
    const podUid = ctx.env.args.K8S_POD_UID;
    wired = await ctx.agent.add({ ...marker, pod, netns: marker.netns as string, staticGatewayConfiguration: sgc, podIpAddress: podIp, ...(podUid && { podUid }) });
  } catch (err) {
    // The agent undoes its own work when it answers; the DEL covers an answer that never came.
    await forget(ctx, marker);
    throw err;
  }
  ctx.log.info('pod wired to gateway', { containerId: marker.containerId, pod: `${pod.namespace}/${pod.name}`, sgc: wired.staticGatewayConfiguration, mode: wired.defaultRoute });
  return { ...prev, cniVersion: ctx.conf.cniVersion, interfaces: [...(prev.interfaces ?? []), { name: wired.interface, sandbox: marker.netns }] };
}
