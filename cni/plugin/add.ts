import { POD_SGC_ANNOTATION } from '../../lib/api/constants.ts';
import { inNetns } from '../../lib/exec/runner.ts';
import { Ip } from '../../lib/net/ip.ts';
import { PrivateKey } from '../../lib/wireguard/keys.ts';
import { CNI_CODES, type GatewayConfig } from '../protocol.ts';
import { type PluginContext, podRef } from './context.ts';
import { teardown } from './del.ts';
import { applyIngress } from './ingress.ts';
import { hostLinkName, POD_IFNAME } from './names.ts';
import type { PodRecord } from './records.ts';
import { applyRoutes, extraRoutes, primaryDefault } from './routes.ts';
import { ANNOTATIONS_CAPABILITY, CniError, podIpv4, type Result } from './spec.ts';
import { createTunnel } from './tunnel.ts';

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

export async function add(ctx: PluginContext): Promise<Result> {
  const prev = ctx.conf.prevResult;
  if (prev === undefined) throw new CniError(CNI_CODES.invalidConfig, `${ctx.conf.type} is a chained plugin: it needs a prevResult from a primary plugin`);
  const pod = podRef(ctx.env);
  const sgc = await sgcOf(ctx, pod);
  if (sgc === undefined) return prev;
  if (pod === undefined) throw new CniError(CNI_CODES.invalidEnv, 'an annotated pod needs K8S_POD_NAMESPACE and K8S_POD_NAME in CNI_ARGS');
  const podIp = podIpv4(prev);
  if (podIp === undefined) throw new CniError(CNI_CODES.invalidConfig, `pod ${pod.namespace}/${pod.name} has no IPv4 address in prevResult`);
  const containerId = ctx.env.containerId as string;
  const netns = ctx.env.netns as string;
  const key = PrivateKey.generate();
  const cfg = await ctx.agent.add({ containerId, pod, staticGatewayConfiguration: sgc, netns, podIpAddress: podIp, podPublicKey: key.publicKey() });
  const record: PodRecord = {
    containerId, network: ctx.conf.name, ifname: ctx.env.ifname as string, netns, pod,
    staticGatewayConfiguration: cfg.staticGatewayConfiguration, hostLink: hostLinkName(containerId), podIp,
    gatewayEndpoint: `${cfg.gatewayIp}:${cfg.gatewayPort}`, gatewayPublicKey: cfg.gatewayPublicKey, defaultRoute: cfg.defaultRoute, routes: [],
  };
  ctx.records.write(record.containerId, record);
  try {
    await wire(ctx, record, key, cfg);
  } catch (err) {
    ctx.log.warn('ADD failed, undoing', { containerId, err });
    await teardown(ctx, record).catch((e: unknown) => ctx.log.error('undo of failed ADD incomplete', { containerId, err: e }));
    throw err;
  }
  ctx.log.info('pod wired to gateway', { containerId, pod: `${pod.namespace}/${pod.name}`, sgc: cfg.staticGatewayConfiguration, mode: cfg.defaultRoute });
  return { ...prev, cniVersion: ctx.conf.cniVersion, interfaces: [...(prev.interfaces ?? []), { name: POD_IFNAME, sandbox: netns }] };
}

/** The netns work; each step is recorded before it is made, so an undo knows what to remove. */
async function wire(ctx: PluginContext, record: PodRecord, key: PrivateKey, cfg: GatewayConfig): Promise<void> {
  const podRunner = inNetns(ctx.runner, record.netns);
  const ip = new Ip(podRunner);
  const main = await ip.routes();
  const primary = primaryDefault(main);
  if (primary === undefined) throw new CniError(CNI_CODES.invalidConfig, `no default route via ${record.ifname} in the pod: the primary plugin must install one`);
  record.originalGateway = primary.gateway;
  record.ifname = primary.dev;
  record.routes = extraRoutes(cfg, primary, main);
  ctx.records.write(record.containerId, record);
  await createTunnel(ctx.links, record, key);
  await applyRoutes(ip, record);
  await applyIngress(podRunner, ip, primary.dev, primary.gateway);
}
