import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab, LabMachine } from './lab.ts';
import { IMDS_IP, nodeKubeconfig } from './lab.ts';
import { SYSTEM_NAMESPACE } from './kube-objects.ts';
import { KEY_SECRET_NAMESPACE, partKubeconfig } from '../testenv/helm/accounts.ts';
import { ONPREM_CIDR, ROUTER_IP } from './plan.ts';
import { pluginExecutable, prepareCni } from './kubelet.ts';
import { LAB_RESOURCE_GROUP, LAB_SUBNET, LAB_VNET } from './world.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';

/*
 * The product's parts in the lab, started with the same CLIs and flags as in
 * a cluster. The operator runs in the host namespace (a pod with cluster
 * networking: it reaches the API and ARM on loopback); gateway daemons and
 * node agents run inside their node's namespace, like hostNetwork pods.
 * Host-wide names (namespaces, WireGuard links) carry the lab id and the node
 * index, so several nodes and labs can share the machine.
 */

/** The product's CLI, as the container image runs it. */
const CLI = 'cmd/kube-egress-gateway.ts';

export function gatewayNetnsName(lab: Lab, m: LabMachine): string {
  return `keg-${lab.id}-gw${m.index}`;
}

/** WireGuard links of a gateway are <prefix><port>; at most 15 characters. */
export function gatewayLinkPrefix(lab: Lab, m: LabMachine): string {
  return `g${lab.id}${m.index}-`;
}

/** The operator's kubeconfig: a token of its ServiceAccount, so it runs with the chart's RBAC. */
async function operatorKubeconfig(lab: Lab): Promise<string> {
  const file = join(lab.dir, 'operator.kubeconfig');
  if (!existsSync(file)) await partKubeconfig(lab.kube, 'operator', file);
  return file;
}

/** The operator's Azure cloud config for the lab's emulator, at `endpoint` with its CA at `caCertFile`. */
export function labCloudConfig(lab: Lab, endpoint: string, caCertFile: string): object {
  return {
    cloud: 'AzurePublicCloud', tenantId: lab.arm.tenantId, subscriptionId: lab.arm.subscriptionId,
    resourceGroup: LAB_RESOURCE_GROUP, location: 'eastus', vnetName: LAB_VNET, subnetName: LAB_SUBNET,
    aadClientId: 'lab-operator', aadClientSecret: 'lab-operator-secret',
    resourceManagerEndpoint: endpoint, activeDirectoryAuthorityHost: endpoint, caCertFile,
  };
}

export async function startOperator(lab: Lab, extra: string[] = []): Promise<void> {
  const cloudConfig = join(lab.dir, 'azure.json');
  writeFileSync(cloudConfig, JSON.stringify(labCloudConfig(lab, lab.arm.endpoint, lab.arm.caPath)), { mode: 0o600 });
  lab.procs.startScript('operator', undefined, CLI, ['operator',
    '--kubeconfig', await operatorKubeconfig(lab), '--cloud-config', cloudConfig, '--namespace', SYSTEM_NAMESPACE,
    // As the chart runs it: key Secrets where the gateway daemons may read and nothing else lives.
    '--secret-namespace', KEY_SECRET_NAMESPACE,
    '--leader-elect', '--metrics-bind-address', '127.0.0.1:0', ...extra,
  ]);
}

export function startGateway(lab: Lab, m: LabMachine, opts: { drainSeconds?: number; name?: string } = {}): void {
  lab.ownNetns.add(gatewayNetnsName(lab, m));
  lab.procs.startScript(opts.name ?? `gateway-${m.computerName}`, m, CLI, ['gateway',
    '--kubeconfig', nodeKubeconfig(m), '--imds-endpoint', `http://${IMDS_IP}`,
    '--netns-name', gatewayNetnsName(lab, m), '--link-prefix', gatewayLinkPrefix(lab, m),
    '--host-interface', 'eth0', '--namespace', SYSTEM_NAMESPACE,
    // As an installation whose private-mode gateways egress on-premises allows it (docs/gateway.md, "Tunnel filter").
    '--tunnel-allow-cidrs', ONPREM_CIDR,
    // The lab's pod IPs come from their node's podCIDR, the agents' endpoints are stamped with their
    // node, and the lab kubelet reports each pod's IP: every endpoint is checked both ways.
    '--check-node-pod-cidrs', '--check-pod-endpoints',
    '--drain-seconds', String(opts.drainSeconds ?? drainSeconds(lab)),
  ]);
}

/** The lab gateways' default --drain-seconds: two load balancer probe intervals. */
export function drainSeconds(lab: Lab): number {
  return Math.ceil((lab.probeIntervalMs * 2) / 1000);
}

/** SIGTERM to a gateway daemon: on a node going away (cordoned) it fails its probes for the drain period first. */
export async function stopGateway(lab: Lab, m: LabMachine): Promise<void> {
  await lab.procs.stop(`gateway-${m.computerName}`, 120_000);
}

/**
 * A DaemonSet update with maxSurge 1 (the chart's): the new daemon starts
 * beside the old one; once it serves probes (it adopted the data path), the
 * old one gets SIGTERM and, the node staying, exits without a drain.
 */
export async function surgeRestartGateway(lab: Lab, m: LabMachine): Promise<void> {
  const name = `gateway-${m.computerName}`;
  const next = `${name}-next`;
  await startGatewayServing(lab, m, { name: next });
  await lab.procs.stop(name, 120_000);
  lab.procs.rename(next, name);
}

/** Starts a gateway daemon and waits until it serves probes (it adopted or programmed every gateway). */
export async function startGatewayServing(lab: Lab, m: LabMachine, opts: { name?: string } = {}): Promise<void> {
  const name = opts.name ?? `gateway-${m.computerName}`;
  startGateway(lab, m, opts);
  await lab.procs.untilLogged(name, 'serving probes');
}

/** Cordons or uncordons a node (spec.unschedulable), as kubectl cordon does. */
export async function cordon(lab: Lab, m: LabMachine, on: boolean): Promise<void> {
  await lab.kube.rest.patch(resourcePath(CORE.nodes, undefined, m.computerName), { spec: { unschedulable: on } });
}

/**
 * A gateway node dies: its link to the VNet goes down and every process of
 * the node is killed. The gateway namespace and its links stay, as they
 * would on a powered-off VM that comes back. The link goes first: a dead
 * node falls silent at once, where a node whose processes die first still
 * answers with resets for a moment.
 */
export async function killGatewayNode(lab: Lab, m: LabMachine): Promise<void> {
  await lab.runner.run(['ip', '-n', m.name, 'link', 'set', 'eth0', 'down']);
  await lab.procs.kill(`gateway-${m.computerName}`);
}

/** The node comes back: its link up with the routes the kernel dropped, and its gateway daemon restarted. */
export async function reviveGatewayNode(lab: Lab, m: LabMachine): Promise<void> {
  await lab.runner.run(['ip', '-n', m.name, 'link', 'set', 'eth0', 'up']);
  await lab.runner.run(['ip', '-n', m.name, 'route', 'replace', `${ROUTER_IP}/32`, 'dev', 'eth0', 'scope', 'link']);
  await lab.runner.run(['ip', '-n', m.name, 'route', 'replace', 'default', 'via', ROUTER_IP, 'dev', 'eth0', 'onlink']);
  startGateway(lab, m);
}

/**
 * The node agent of a worker: it installs the plugin into the node's CNI bin
 * dir and chains itself into the node's primary conflist, as on a real node.
 */
export async function startAgent(lab: Lab, m: LabMachine, extra: string[] = []): Promise<void> {
  // On a real node, the directories containerd reads.
  const real = lab.realNodes.find((n) => n.m.computerName === m.computerName);
  const { binDir, confDir } = real ? real.cniDirs : await prepareCni(m);
  // On a real node the agent sees the node's mounts, as the DaemonSet's
  // HostToContainer mount of the netns directory gives it containerd's pod namespaces.
  lab.procs.startScript(`agent-${m.computerName}`, real ? real.enter() : m, CLI, ['cni-manager',
    '--kubeconfig', nodeKubeconfig(m), '--node-name', m.computerName,
    '--socket', join(m.dir, 'cni.sock'), '--state-dir', join(m.dir, 'agent-state'),
    '--plugin-binary', pluginExecutable(lab), '--cni-bin-dir', binDir, '--cni-conf-dir', confDir,
    // Tell the agent how slow the load balancer is.
    '--lb-probe-interval', `${lab.probeIntervalMs}ms`, ...extra,
  ]);
}

export async function stopAgent(lab: Lab, m: LabMachine): Promise<void> {
  await lab.procs.stop(`agent-${m.computerName}`);
}
