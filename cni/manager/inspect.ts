import { describeError } from '../../lib/errors.ts';
import { inNetns } from '../../lib/exec/runner.ts';
import { drift, type PodNet } from '../podnet/pod.ts';
import { POD_IFNAME } from '../podnet/names.ts';
import type { PodRecord } from '../podnet/record.ts';
import { type InspectAnswer, type InspectedSandbox, type InspectRequest, PROBE_TIMEOUT_MS, type ProbeResult } from '../protocol.ts';
import type { PodStore } from './pods.ts';
import { readGuard } from './tunnel-guard.ts';

export interface InspectDeps {
  pods: PodStore;
  net: PodNet;
  nodeName: string;
  /** The Node runtime the probe runs on inside the pod's namespace (the agent's own). */
  nodeExecutable?: string;
}

/**
 * Answers doctor: what the agent wired for the pod and the state of each
 * sandbox's tunnel. Reads only; the probe is one HTTP GET from inside the
 * pod's network namespace, so it leaves through the pod's own routes (the
 * tunnel, in staticEgressGateway mode) as the pod's traffic does.
 */
export async function inspectPod(deps: InspectDeps, req: InspectRequest): Promise<InspectAnswer> {
  const records = deps.pods.list().filter((r) => !r.unwired && r.pod.namespace === req.pod.namespace && r.pod.name === req.pod.name);
  const newest = records.at(-1);
  // The probe first: its packet makes the tunnel handshake, so the state read after it is current.
  const probed = req.probeUrl === undefined ? undefined : newest === undefined
    ? { url: req.probeUrl, error: 'the agent has not wired this pod, so there is no network namespace to probe from' }
    : await probe(deps, newest.netns, req.probeUrl);
  const guard = await readGuard(deps.net.runner).catch(() => undefined);
  const sandboxes = await Promise.all(records.map((r) => sandbox(deps.net, r, guard)));
  return { node: deps.nodeName, sandboxes, ...(probed !== undefined && { probe: probed }) };
}

async function sandbox(net: PodNet, r: PodRecord, guard: Map<number, string> | undefined): Promise<InspectedSandbox> {
  const link = await net.links.find(POD_IFNAME, r.netns).catch(() => undefined);
  const state = link === undefined ? undefined : await net.links.wg(link).show(link.wgName).catch(() => undefined);
  const peer = state?.peers.find((p) => p.publicKey === r.gatewayPublicKey);
  return {
    containerId: r.containerId, staticGatewayConfiguration: r.staticGatewayConfiguration, podIp: r.podIp, podPublicKey: r.podPublicKey,
    defaultRoute: r.defaultRoute,
    peer: peer === undefined ? null : { endpoint: peer.endpoint, latestHandshake: peer.latestHandshake, rxBytes: peer.rxBytes, txBytes: peer.txBytes },
    problems: await drift(net, r).catch((err: unknown) => [`cannot check the pod's network: ${describeError(err)}`]),
    ...(guard !== undefined && state !== undefined && { guard: guard.get(state.listenPort) ?? null }),
  };
}

/** Prints the answer's body (at most 4 KiB); exits non-zero with the reason when the request fails. */
const PROBE_SCRIPT = `fetch(process.argv[1], { signal: AbortSignal.timeout(${PROBE_TIMEOUT_MS}) })
  .then((r) => r.text()).then((t) => process.stdout.write(t.slice(0, 4096)))
  .catch((e) => { process.stderr.write(String(e && e.cause ? e.cause.message ?? e.cause : e)); process.exit(1); });`;

async function probe(deps: InspectDeps, netns: string, url: string): Promise<ProbeResult> {
  try {
    const { stdout } = await inNetns(deps.net.runner, netns).run([deps.nodeExecutable ?? process.execPath, '-e', PROBE_SCRIPT, url], { timeoutMs: PROBE_TIMEOUT_MS + 2_000 });
    const sourceIp = /\b(\d{1,3}(?:\.\d{1,3}){3})\b/.exec(stdout)?.[1];
    return sourceIp === undefined ? { url, error: `the echo service's answer names no IPv4 address: ${JSON.stringify(stdout.slice(0, 200))}` } : { url, sourceIp };
  } catch (err) {
    return { url, error: `request from the pod's network namespace failed: ${describeError(err)}` };
  }
}
