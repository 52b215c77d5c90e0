import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { POD_SGC_ANNOTATION } from '../lib/api/constants.ts';
import { KegError } from '../lib/errors.ts';
import { inNetns } from '../lib/exec/runner.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { isConflict, isNotFound } from '../lib/kube/rest.ts';
import { deleteNetns, ensureNetns } from '../lib/net/netns.ts';
import { CniLab, cniBinaries, writeWrapper } from '../testenv/cni/lab.ts';
import { SPEC_VERSION } from '../testenv/cni/binaries.ts';
import type { Lab, LabMachine } from './lab.ts';
import { REPO } from './processes.ts';

/*
 * The kubelet stand-in: what kubelet and the container runtime do for pod
 * networking, and no more. It creates the Pod object, a network namespace
 * for it, runs the node's CNI chain through libcni's cnitool (the primary
 * bridge + host-local, then whatever the node agent inserted), and writes the
 * pod IP into the Pod status.
 */

export const NET_NAME = 'lab-pods';

export interface LabPod {
  namespace: string;
  name: string;
  node: LabMachine;
  netns: { name: string; path: string };
  ip: string;
}

/** The CNI directories of a worker node: the primary network's conflist, and the plugins. */
export async function prepareCni(m: LabMachine): Promise<{ binDir: string; confDir: string }> {
  const bins = await cniBinaries();
  const binDir = join(m.dir, 'cni-bin');
  const confDir = join(m.dir, 'cni-net.d');
  mkdirSync(binDir, { recursive: true });
  mkdirSync(confDir, { recursive: true });
  for (const name of ['bridge', 'host-local']) {
    if (!existsSync(join(binDir, name))) symlinkSync(join(bins.pluginDir, name), join(binDir, name));
  }
  const primary = {
    cniVersion: SPEC_VERSION,
    name: NET_NAME,
    plugins: [{
      type: 'bridge', bridge: 'cni0', isGateway: true, ipMasq: true,
      ipam: { type: 'host-local', subnet: m.podCIDR, dataDir: join(m.dir, 'ipam'), routes: [{ dst: '0.0.0.0/0' }] },
    }],
  };
  // Written once, like a node's primary CNI config: the agent chains a copy
  // of it (01-egressgateway.conflist, loaded first) and never edits it.
  const conflist = join(confDir, '10-lab-pods.conflist');
  if (!existsSync(conflist)) writeFileSync(conflist, JSON.stringify(primary, null, 2));
  return { binDir, confDir };
}

/** The network namespace of a lab pod: per Kubernetes namespace, as pods of one name may live in several. */
export function podNetnsName(lab: Lab, namespace: string, name: string): string {
  return `keg-${lab.id}-p-${namespace}-${name}`;
}

/** The plugin the node agent installs: the single executable when built, else Node on its source. */
export function pluginExecutable(lab: Lab): string {
  const built = join(REPO, 'dist', 'kube-egress-cni');
  if (existsSync(built)) return built;
  const wrapper = join(lab.dir, 'kube-egress-cni');
  if (!existsSync(wrapper)) writeWrapper(wrapper, [process.execPath, join(REPO, 'cni/plugin/main.ts')]);
  return wrapper;
}

/** Runs the node's CNI chain through cnitool, as the runtime does for a sandbox; the result on stdout. */
export async function cnitool(lab: Lab, m: LabMachine, verb: 'add' | 'del', pod: { namespace: string; name: string; netnsPath: string }, annotations: Record<string, string>): Promise<string> {
  const bins = await cniBinaries();
  const call = CniLab.podCall(pod.namespace, pod.name, annotations);
  const env: Record<string, string> = {
    NETCONFPATH: join(m.dir, 'cni-net.d'), CNI_PATH: join(m.dir, 'cni-bin'),
    CNI_ARGS: Object.entries(call.cniArgs ?? {}).map(([k, v]) => `${k}=${v}`).join(';'),
    CAP_ARGS: JSON.stringify(call.capArgs ?? {}),
  };
  const { stdout } = await inNetns(lab.runner, m.path).run([bins.cnitool, verb, NET_NAME, pod.netnsPath], { env, timeoutMs: 60_000 });
  return stdout;
}

export function podAnnotations(sgc: string | undefined): Record<string, string> {
  return sgc ? { [POD_SGC_ANNOTATION]: sgc } : {};
}

/** The Pod object, bound to its node (kubelet has not started its sandbox yet); an existing one is kept. */
export async function createPodObject(lab: Lab, m: LabMachine, p: { namespace: string; name: string; sgc?: string }): Promise<void> {
  await lab.kube.rest.create(resourcePath(CORE.pods, p.namespace), {
    metadata: { name: p.name, namespace: p.namespace, annotations: podAnnotations(p.sgc) },
    spec: { nodeName: m.computerName, containers: [{ name: 'app', image: 'lab/none' }] },
  }).catch((err: unknown) => {
    if (!isConflict(err)) throw err;
  });
}

export async function createPod(lab: Lab, m: LabMachine, p: { namespace: string; name: string; sgc?: string }): Promise<LabPod> {
  const annotations = podAnnotations(p.sgc);
  // A Pod whose sandbox failed stays and is retried, as kubelet does.
  await createPodObject(lab, m, p);
  const netnsName = podNetnsName(lab, p.namespace, p.name);
  lab.ownNetns.add(netnsName);
  const netnsPath = await ensureNetns(lab.runner, netnsName);
  try {
    const result = JSON.parse(await cnitool(lab, m, 'add', { ...p, netnsPath }, annotations)) as { ips?: { address: string }[] };
    const ip = result.ips?.[0]?.address.split('/')[0];
    if (!ip) throw new KegError('LAB_CNI_NO_IP', `CNI ADD for ${p.namespace}/${p.name} returned no IP`);
    await lab.kube.rest.patch(resourcePath(CORE.pods, p.namespace, p.name, 'status'), {
      status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], hostIP: m.ip },
    });
    return { namespace: p.namespace, name: p.name, node: m, netns: { name: netnsName, path: netnsPath }, ip };
  } catch (err) {
    // What kubelet does on a failed sandbox: tear the network down and give up the sandbox.
    await cnitool(lab, m, 'del', { ...p, netnsPath }, annotations).catch(() => undefined);
    await deleteNetns(lab.runner, netnsName);
    lab.ownNetns.delete(netnsName);
    throw err;
  }
}

export async function deletePod(lab: Lab, pod: LabPod): Promise<void> {
  await cnitool(lab, pod.node, 'del', { namespace: pod.namespace, name: pod.name, netnsPath: pod.netns.path }, {});
  await deleteNetns(lab.runner, pod.netns.name);
  lab.ownNetns.delete(pod.netns.name);
  await lab.kube.rest.delete(resourcePath(CORE.pods, pod.namespace, pod.name)).catch((err: unknown) => {
    if (!isNotFound(err)) throw err;
  });
}
