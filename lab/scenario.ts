import { join } from 'node:path';
import { API_VERSION } from '../lib/api/constants.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import { StaticGatewayConfigurationSchema, parseObject, type StaticGatewayConfiguration } from '../lib/api/v1alpha1.ts';
import { resourcePath } from '../lib/kube/paths.ts';
import { isConditionTrue } from '../lib/kube/status.ts';
import type { ManagedProcess } from '../testenv/kubeapi/process.ts';
import type { Lab } from './lab.ts';
import type { LabPod } from './kubelet.ts';
import { parseSamples, type Sample } from './outage.ts';
import { ECHO_IP, ECHO_PORT } from './plan.ts';
import { REPO } from './processes.ts';
import { until } from '../testenv/wait.ts';
import { azureView } from './azure-view.ts';

/*
 * What a user does and observes, in lab terms: apply an SGC, wait for it,
 * ask the echo service which address a pod egresses from.
 */

export const ECHO_URL = `http://${ECHO_IP}:${ECHO_PORT}/`;
const SGC = RESOURCES.StaticGatewayConfiguration;

export async function applySgc(lab: Lab, namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  await lab.kube.rest.create(resourcePath(SGC, namespace), { apiVersion: API_VERSION, kind: 'StaticGatewayConfiguration', metadata: { name, namespace }, spec });
}

export async function getSgc(lab: Lab, namespace: string, name: string): Promise<StaticGatewayConfiguration> {
  return parseObject(StaticGatewayConfigurationSchema, await lab.kube.rest.get(resourcePath(SGC, namespace, name)));
}

export async function waitSgcReady(lab: Lab, namespace: string, name: string, timeoutMs = 120_000): Promise<StaticGatewayConfiguration> {
  return until(`StaticGatewayConfiguration ${namespace}/${name} to be Ready`, async () => {
    const sgc = await getSgc(lab, namespace, name);
    return isConditionTrue(sgc) ? sgc : undefined;
  }, timeoutMs);
}

/** GET `url` from inside a namespace; the body (for the echo services, the source address they saw), or the error. */
export async function getFrom(lab: Lab, netnsPath: string, url: string, timeoutMs = 3_000): Promise<string> {
  const { stdout } = await lab.runner.run(['nsenter', `--net=${netnsPath}`, process.execPath, join(REPO, 'lab/client.ts'), url, '--timeout-ms', String(timeoutMs)]);
  return stdout.trim();
}

/** The address the echo service sees for a request from the pod, or the error. */
export function egressIp(lab: Lab, pod: LabPod, timeoutMs = 3_000): Promise<string> {
  return getFrom(lab, pod.netns.path, ECHO_URL, timeoutMs);
}

/** Retries until the pod egresses at all (tunnels need a moment after a pod starts). */
export function waitEgress(lab: Lab, pod: LabPod, timeoutMs = 60_000): Promise<string> {
  return until(`pod ${pod.namespace}/${pod.name} to reach the echo service`, () => egressIp(lab, pod), timeoutMs, 500);
}

const ipv4Number = (a: string) => a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);

/** True when `ip` lies in the IPv4 prefix `cidr`. */
export function inPrefix(ip: string, cidr: string): boolean {
  const [base, len] = cidr.split('/') as [string, string];
  const size = 2 ** (32 - Number(len));
  return Math.floor(ipv4Number(ip) / size) === Math.floor(ipv4Number(base) / size);
}

/** A request loop running in a pod; read its samples at any time. */
export interface RequestLoop {
  proc: ManagedProcess;
  samples(): Sample[];
  stop(): Promise<void>;
}

/**
 * `timeoutMs` bounds each request: a request lost to a dead gateway costs
 * that much on its own, so sub-second outages are measured with a short one.
 * A pod's loops share one log file (appended to), so the samples are only
 * those of this loop: an earlier loop's last samples would pass for this
 * one's first (its source, its success).
 */
export function startLoop(lab: Lab, pod: LabPod, intervalMs = 100, timeoutMs = 1_000): RequestLoop {
  const name = `loop-${pod.name}`;
  const startedAt = Date.now();
  const proc = lab.procs.start(name, ['nsenter', `--net=${pod.netns.path}`, process.execPath, join(REPO, 'lab/loop.ts'), ECHO_URL, '--interval-ms', String(intervalMs), '--timeout-ms', String(timeoutMs)]);
  return {
    proc,
    samples: () => parseSamples(lab.procs.logTail(name, 1_000_000)).filter((s) => s.t >= startedAt),
    stop: () => lab.procs.stop(name),
  };
}

/** The gateway node whose public (or, in private mode, secondary) IP a pod egresses from. */
export function gatewayForEgress(lab: Lab, source: string): Lab['machines'][number] | undefined {
  const view = azureView(lab.arm.inventory());
  const secondary = view.publicIps.find((p) => p.publicIp === source)?.privateIp ?? source;
  const nodeIp = view.secondaryRoutes.find((r) => r.ip === secondary)?.nodeIp;
  return lab.machines.find((m) => m.ip === nodeIp);
}
