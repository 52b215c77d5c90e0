import { mkdirSync, mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ExecRunner, type CommandRunner } from '../lib/exec/runner.ts';
import type { Logger } from '../lib/log.ts';
import { deleteNetns } from '../lib/net/netns.ts';
import { startArmEmulator, type ArmEmulator } from '../testenv/azure/arm/index.ts';
import { CRD_DIR, TestKube, testBinaries } from '../testenv/kubeapi/index.ts';
import { installChartIdentities, partKubeconfig } from '../testenv/helm/accounts.ts';
import { until } from '../testenv/wait.ts';
import { azureView } from './azure-view.ts';
import { registerNode } from './kube-objects.ts';
import { INTERNET_IF, LabNetwork, VNET_IF, type LabNode } from './network.ts';
import { API_ENDPOINT_IP, API_ENDPOINT_PORT, ARM_ENDPOINT_IP, ARM_ENDPOINT_PORT, ECHO_PORT, NODE_LOCAL_DNS_IP } from './plan.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { parseEndpoint, startPortal, type Portal } from './portal.ts';
import { Processes } from './processes.ts';
import { realNodeAssets, startControlPlane } from './control-plane.ts';
import { RealNode, type RealNodeAssets } from './realnode.ts';
import type { RouterConfig } from './router/config.ts';
import { readRouterStatus } from './router/daemon.ts';
import { LAB_RESOURCE_GROUP, labVms, seedAzure, type LabVm, type PoolKind } from './world.ts';

export interface LabOptions {
  log: Logger;
  gateways?: number;
  workers?: number;
  /** The emulated ILB's probe interval; Azure's is 5 s. */
  probeIntervalMs?: number;
  /** Keep the lab directory (logs) after stop, for debugging. */
  keepDir?: boolean;
  /** The gateway pool as a VMSS (default) or as AKS VirtualMachines (standalone VMs). */
  gatewayPoolKind?: PoolKind;
  /**
   * Real nodes: containerd and kubelet per node, kube-controller-manager and
   * kube-scheduler (lab/realnode.ts). Otherwise nodes are Node objects and
   * the kubelet stand-in runs pods (lab/kubelet.ts).
   */
  realNodes?: boolean;
  /** Real nodes' primary conflist version; default 0.3.0, as Azure CNI writes it. */
  primaryCniVersion?: string;
  /**
   * The product will be installed by `helm install` (lab/product.ts, real
   * nodes only): the lab then creates none of the chart's objects itself.
   */
  helm?: boolean;
}

export interface LabMachine extends LabNode, LabVm {
  /** Index within its pool. */
  index: number;
  /** Per-node directory (owner-only): the node's part's kubeconfig, CNI dirs, state. */
  dir: string;
  podCIDR?: string;
}

/** The kubeconfig of the part that runs on a node, with its ServiceAccount's token. */
export function nodeKubeconfig(m: LabMachine): string {
  return join(m.dir, 'kubeconfig');
}

/** Where in-node processes find the API server: their own loopback, forwarded to the host's. */
export const NODE_API_PORT = 6443;
export const IMDS_IP = '169.254.169.254';

/**
 * The whole system's stage on one machine: a real apiserver and the ARM
 * emulator on the host's loopback, the VNet of node namespaces with its
 * router (ILB, NAT) and internet echo, IMDS, and portals that give every node
 * its own 127.0.0.1:6443 to the apiserver. The product's parts are started on
 * top of it by lab/parts.ts, with the same CLIs as in a cluster.
 */
export class Lab {
  readonly id = randomBytes(2).toString('hex');
  readonly dir: string;
  readonly log: Logger;
  readonly runner: CommandRunner = new ExecRunner();
  readonly procs: Processes;
  readonly machines: LabMachine[] = [];
  /** The real nodes' runtimes, in real-node mode. */
  readonly realNodes: RealNode[] = [];
  /** Namespaces the parts create outside the node namespaces (gateway namespaces, pods), deleted on stop. */
  readonly ownNetns = new Set<string>();
  kube!: TestKube;
  arm!: ArmEmulator;
  net!: LabNetwork;
  readonly probeIntervalMs: number;
  /** Keep the lab directory (every part's log) after stop. */
  keepDir: boolean;
  private readonly opts: LabOptions;
  private readonly hostPortals: Portal[] = [];
  private controller: NodeJS.Timeout | undefined;
  private routerConfigText = '';

  private constructor(opts: LabOptions) {
    this.opts = opts;
    this.log = opts.log;
    this.probeIntervalMs = opts.probeIntervalMs ?? 5_000;
    this.keepDir = opts.keepDir ?? false;
    this.dir = mkdtempSync(join(tmpdir(), 'keg-lab-'));
    this.procs = new Processes(this.dir);
  }

  static async start(opts: LabOptions): Promise<Lab> {
    const lab = new Lab(opts);
    try {
      await lab.bringUp();
      return lab;
    } catch (err) {
      await lab.stop();
      throw err;
    }
  }

  get gateways(): LabMachine[] {
    return this.machines.filter((m) => m.gateway);
  }

  get workers(): LabMachine[] {
    return this.machines.filter((m) => !m.gateway);
  }

  machine(name: string): LabMachine {
    const m = this.machines.find((x) => x.computerName === name);
    if (!m) throw new Error(`no lab machine ${name}`);
    return m;
  }

  private async bringUp(): Promise<void> {
    const real = this.opts.realNodes ? await realNodeAssets(this, this.opts.primaryCniVersion ?? '0.3.0') : undefined;
    this.log.info('starting the Kubernetes API (etcd + kube-apiserver)');
    this.kube = await TestKube.start({ binaries: await testBinaries(), crdDir: CRD_DIR, serviceAccountAdmission: real !== undefined });
    if (real) startControlPlane(this, real.bins);
    // The chart's namespaces, ServiceAccounts and RBAC: every part runs as its
    // own ServiceAccount (lab/parts.ts), so a missing permission fails here
    // as it would in a cluster.
    // Lab pods take their IPs from their node's podCIDR, so the gateways can check it.
    if (!this.opts.helm) await installChartIdentities(this.kube, { gatewayDaemonManager: { checkNodePodCidrs: true } });
    this.log.info('starting the Azure Resource Manager emulator');
    // Real nodes' pods reach it on the VNet (exposeToPods).
    this.arm = await startArmEmulator({ location: 'eastus', ...(real ? { tlsHosts: [ARM_ENDPOINT_IP] } : {}) });
    seedAzure(this.arm, { gateways: this.opts.gateways ?? 2, workers: this.opts.workers ?? 2, ...(this.opts.gatewayPoolKind ? { gatewayPoolKind: this.opts.gatewayPoolKind } : {}) });
    this.net = await LabNetwork.create(this.runner, this.id);
    await this.addMachines(labVms(this.arm.inventory()));
    await this.startInfrastructure();
    this.controller = setInterval(() => this.syncRouter(), 300);
    this.syncRouter();
    if (real) await this.startRealNodes(real);
  }

  private async startRealNodes(assets: RealNodeAssets): Promise<void> {
    this.log.info('starting containerd and kubelet on every node');
    for (const m of this.machines) {
      const node = new RealNode(this, { ...m, apiServer: `https://127.0.0.1:${NODE_API_PORT}`, apiEndpoint: `${API_ENDPOINT_IP}:${API_ENDPOINT_PORT}` }, assets);
      this.realNodes.push(node);
      await node.start();
    }
    await Promise.all(this.realNodes.map((n) => n.waitReady()));
  }

  private async addMachines(vms: LabVm[]): Promise<void> {
    const counters = new Map<string, number>();
    const apiSock = await this.hostSocket('apiserver', this.kube.server);
    for (const vm of vms) {
      const index = counters.get(vm.pool) ?? 0;
      counters.set(vm.pool, index + 1);
      const node = await this.net.addNode(vm.computerName, vm.ip);
      const dir = join(this.dir, 'nodes', vm.computerName);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const podCIDR = vm.gateway ? undefined : `10.244.${index}.0/24`;
      const m: LabMachine = { ...node, ...vm, index, dir, ...(podCIDR ? { podCIDR } : {}) };
      this.machines.push(m);
      // A real kubelet registers its node itself.
      if (!this.opts.realNodes) await registerNode(this.kube.rest, { name: vm.computerName, ip: vm.ip, gateway: vm.gateway, podCIDR });
      // The token of the node's part: the gateway daemon's or the node agent's ServiceAccount.
      // Bound to the part's Pod on this node, as the kubelet's projected tokens are.
      // Installed by helm, the parts are pods with projected tokens of their own.
      if (!this.opts.helm) await partKubeconfig(this.kube, vm.gateway ? 'gateway' : 'agent', nodeKubeconfig(m), `https://127.0.0.1:${NODE_API_PORT}`, vm.computerName);
      this.procs.startScript(`portal-${vm.computerName}`, m, 'lab/portal-main.ts', ['--listen', `tcp:127.0.0.1:${NODE_API_PORT}`, '--connect', `unix:${apiSock}`]);
    }
  }

  private async startInfrastructure(): Promise<void> {
    const router = this.net.router;
    await this.runner.run(['ip', '-n', router.name, 'addr', 'add', `${IMDS_IP}/32`, 'dev', 'lo']);
    const byCaller = Object.fromEntries(this.machines.map((m) => [m.ip, {
      name: `${m.pool}_${m.index}`, computerName: m.computerName, vmScaleSetName: m.pool,
      resourceGroupName: LAB_RESOURCE_GROUP, subscriptionId: this.arm.subscriptionId, privateIps: [m.ip],
    }]));
    writeFileSync(join(this.dir, 'imds.json'), JSON.stringify({ byCaller, tenantId: this.arm.tenantId }));
    this.procs.startScript('imds', router, 'testenv/azure/imds/cmd.ts', ['--listen', `${IMDS_IP}:80`, '--config', join(this.dir, 'imds.json')]);
    const status = join(this.dir, 'router-status.json');
    this.procs.startScript('router', router, 'lab/router/main.ts', ['--config', this.routerConfigPath(), '--status', status, '--vnet-if', VNET_IF, '--internet-if', INTERNET_IF]);
    await until('the VNet router to load its rules and forward', () => readRouterStatus(status) !== undefined, 30_000, 50);
    this.procs.startScript('echo', this.net.internet, 'lab/echo.ts', ['--address', '0.0.0.0', '--port', String(ECHO_PORT)]);
    await this.exposeToPods('api-endpoint', API_ENDPOINT_IP, API_ENDPOINT_PORT, join(this.dir, 'apiserver.sock'));
    if (this.opts.realNodes) await this.exposeToPods('arm-endpoint', ARM_ENDPOINT_IP, ARM_ENDPOINT_PORT, await this.hostSocket('arm', this.arm.endpoint));
    await this.publishApiEndpoint();
    for (const w of this.workers) {
      await this.runner.run(['ip', '-n', w.name, 'addr', 'add', `${NODE_LOCAL_DNS_IP}/32`, 'dev', 'lo']);
      this.procs.startScript(`dns-${w.computerName}`, w, 'lab/echo.ts', ['--address', NODE_LOCAL_DNS_IP, '--port', '80']);
    }
  }

  /** A host portal from an owner-only unix socket in the lab directory to a service on the host's loopback. */
  private async hostSocket(name: string, url: string): Promise<string> {
    const sock = join(this.dir, `${name}.sock`);
    this.hostPortals.push(await startPortal(parseEndpoint(`unix:${sock}`), parseEndpoint(`tcp:127.0.0.1:${new URL(url).port}`)));
    return sock;
  }

  /**
   * A host service (behind its unix socket) at an address on the VNet
   * router, where nodes and pods reach it as they reach services in a VNet.
   */
  private async exposeToPods(name: string, ip: string, port: number, hostSock: string): Promise<void> {
    await this.runner.run(['ip', '-n', this.net.router.name, 'addr', 'add', `${ip}/32`, 'dev', VNET_IF]);
    this.procs.startScript(`portal-${name}`, this.net.router, 'lab/portal-main.ts', ['--listen', `tcp:${ip}:${port}`, '--connect', `unix:${hostSock}`]);
  }

  /**
   * As in a cluster, pods find the API server through the `kubernetes`
   * Service's endpoints: here an address on the VNet router, forwarded to the
   * real apiserver. (The test apiserver does not reconcile that endpoint
   * itself, so the lab publishes it.)
   */
  private async publishApiEndpoint(): Promise<void> {
    await this.kube.rest.create(resourcePath(CORE.endpointSlices, 'default'), {
      metadata: { name: 'kubernetes', namespace: 'default', labels: { 'kubernetes.io/service-name': 'kubernetes', 'endpointslice.kubernetes.io/managed-by': 'lab' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: [API_ENDPOINT_IP], conditions: { ready: true } }],
      ports: [{ name: 'https', port: API_ENDPOINT_PORT, protocol: 'TCP' }],
    });
  }

  routerConfigPath(): string {
    return join(this.dir, 'router.json');
  }

  /** Derives the router's configuration from the Azure state, as Azure's data plane follows its control plane. */
  private syncRouter(): void {
    const cfg: RouterConfig = {
      ...azureView(this.arm.inventory()),
      podRoutes: this.workers.flatMap((m) => (m.podCIDR ? [{ cidr: m.podCIDR, nodeIp: m.ip }] : [])),
      probeIntervalMs: this.probeIntervalMs,
      unhealthyThreshold: 1,
    };
    const text = JSON.stringify(cfg);
    if (text === this.routerConfigText) return;
    const tmp = `${this.routerConfigPath()}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, this.routerConfigPath());
    this.routerConfigText = text;
  }

  /** Tears everything down: processes, namespaces (and the links in them), the API, the emulator, the directory. */
  async stop(): Promise<void> {
    clearInterval(this.controller);
    // One node's failure to stop must not keep the rest of the lab running.
    for (const node of this.realNodes) await node.stop().catch((err: unknown) => this.log.error('stopping a real node failed', { node: node.m.computerName, err }));
    await this.procs.stopAll();
    for (const name of this.ownNetns) await deleteNetns(this.runner, name);
    await this.net?.destroy();
    for (const p of this.hostPortals) await p.close();
    await this.arm?.stop();
    await this.kube?.stop();
    if (!this.keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
