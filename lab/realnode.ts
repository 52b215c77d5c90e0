import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync, lstatSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { GATEWAY_NODE_LABEL, GATEWAY_NODE_LABEL_VALUE, GATEWAY_NODE_TAINT } from '../lib/api/constants.ts';
import { KegError } from '../lib/errors.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { writeTokenKubeconfig } from '../testenv/kubeapi/apply.ts';
import type { NodeBinaries } from '../testenv/realnode/binaries.ts';
import type { LocalImage } from '../testenv/realnode/images.ts';
import type { CommandRunner } from '../lib/exec/runner.ts';
import type { TestKube } from '../testenv/kubeapi/server.ts';
import type { Processes } from './processes.ts';
import { containerdConfig, kubeletConfig, primaryConflist } from './realnode-config.ts';

/*
 * A real node: containerd and kubelet inside the node's network namespace,
 * in a mount namespace of their own. In it, per-node directories are bind
 * mounted over the host paths that kubelet, containerd and the chart's
 * hostPath volumes use, so nodes on one machine never see each other's CNI
 * config, plugins, logs or agent state. `ip netns exec` is not used: it
 * remounts /sys, which hides the cgroup mounts from kubelet and runc.
 */

/** Host paths each node gets its own copy of (mount point -> directory under the node's dir). */
export const NODE_PRIVATE_DIRS: Readonly<Record<string, string>> = {
  '/etc/cni/net.d': 'cni-net.d',
  '/opt/cni/bin': 'cni-bin',
  '/var/log/containers': 'var-log-containers',
  '/var/run/kube-egress-gateway': 'run-keg',
  '/var/lib/kube-egress-gateway': 'lib-keg',
  '/var/run/wireguard': 'run-wireguard',
  // Pod network namespaces (containerd's default place, where the agent's
  // DaemonSet looks) and the gateway daemon's namespace.
  '/var/run/netns': 'run-netns',
};

export interface RealNodeAssets {
  bins: NodeBinaries;
  images: LocalImage[];
  sandboxImage: string;
  /** The primary conflist's cniVersion: 0.3.0 as Azure CNI writes it. */
  primaryCniVersion: string;
}

/** What a real node uses of its lab (the Lab itself; an interface to keep the imports one way). */
export interface RealNodeHost {
  readonly id: string;
  readonly runner: CommandRunner;
  readonly procs: Processes;
  readonly kube: TestKube;
}

/** The lab machine a real node runs on. */
export interface RealNodeMachine {
  computerName: string;
  ip: string;
  pool: string;
  gateway: boolean;
  index: number;
  /** The node's directory and network namespace. */
  dir: string;
  path: string;
  podCIDR?: string;
  /** Where the node reaches the apiserver (the lab's portal on its loopback). */
  apiServer: string;
  /** The `kubernetes` Service's endpoint on the VNet, host:port, where pods reach the apiserver. */
  apiEndpoint: string;
}

const CGROUP_ROOT = '/sys/fs/cgroup';

export class RealNode {
  readonly lab: RealNodeHost;
  readonly m: RealNodeMachine;
  readonly dir: string;
  readonly socket: string;
  /** The node's cgroup parent, the same path in every v1 hierarchy. */
  readonly cgroupParent: string;
  private readonly assets: RealNodeAssets;

  constructor(lab: RealNodeHost, m: RealNodeMachine, assets: RealNodeAssets) {
    this.lab = lab;
    this.m = m;
    this.assets = assets;
    this.dir = join(m.dir, 'real');
    this.socket = join(this.dir, 'containerd.sock');
    this.cgroupParent = `/keg-${lab.id}-${m.computerName}`;
  }

  /**
   * The prefix that runs a command as the node's DaemonSet pods see the node:
   * its network namespace and its mount namespace (where containerd's pod
   * namespaces are mounted, as a HostToContainer mount shows them).
   */
  enter(): string[] {
    const pid = this.lab.procs.get(this.containerdName)?.pid;
    if (pid === undefined) throw new KegError('LAB_NODE_NOT_RUNNING', `containerd of ${this.m.computerName} is not running`);
    return ['nsenter', `--target=${pid}`, '--mount', '--net'];
  }

  private get containerdName(): string {
    return `containerd-${this.m.computerName}`;
  }

  private get kubeletName(): string {
    return `kubelet-${this.m.computerName}`;
  }

  /** The node's CNI directories as the host sees them (the node sees them at /opt/cni/bin and /etc/cni/net.d). */
  get cniDirs(): { binDir: string; confDir: string } {
    return { binDir: join(this.dir, 'cni-bin'), confDir: join(this.dir, 'cni-net.d') };
  }

  /** The pod CIDR of its bridge: workers' are routed by the VNet router, gateways' stay node-local. */
  get podCIDR(): string {
    return this.m.podCIDR ?? `10.244.${200 + this.m.index}.0/24`;
  }

  async start(): Promise<void> {
    for (const sub of ['containerd', 'kubelet', 'pod-logs', 'ipam', ...Object.values(NODE_PRIVATE_DIRS)]) mkdirSync(join(this.dir, sub), { recursive: true, mode: 0o700 });
    for (const name of ['bridge', 'host-local', 'portmap', 'loopback']) {
      writeFileSync(join(this.dir, 'cni-bin', name), readFileSync(join(this.assets.bins.cniPluginDir, name)), { mode: 0o755 });
    }
    writeFileSync(join(this.dir, 'cni-net.d', '10-lab-pods.conflist'), JSON.stringify(primaryConflist(this.assets.primaryCniVersion, this.podCIDR, join(this.dir, 'ipam')), null, 2));
    writeFileSync(join(this.dir, 'containerd', 'config.toml'), containerdConfig(this.dir, this.socket, this.assets.sandboxImage));
    writeFileSync(join(this.dir, 'kubelet-config.json'), JSON.stringify(kubeletConfig({ socket: this.socket, cgroupRoot: this.cgroupParent, podLogsDir: join(this.dir, 'pod-logs'), taints: this.m.gateway ? [GATEWAY_NODE_TAINT] : [] })));
    this.writeKubeconfig();
    await this.routeApiService();
    this.makeCgroups();
    for (const mountPoint of Object.keys(NODE_PRIVATE_DIRS)) mkdirSync(mountPoint, { recursive: true });
    const binds = Object.entries(NODE_PRIVATE_DIRS).flatMap(([point, sub]) => [join(this.dir, sub), point]);
    const containerd = this.lab.procs.start(this.containerdName, [
      'nsenter', `--net=${this.m.path}`, 'unshare', '--mount', '--propagation', 'private',
      // Bind the node's own directories, then become containerd (same pid, so stop() signals it).
      // Then every mount shared within the node's mount namespace (new peer groups, nothing reaches the
      // host), as systemd leaves a host: the DaemonSets' HostToContainer and Bidirectional hostPath
      // mounts need it, and containerd checks the mount of the literal path (/var/run/netns is on /).
      'sh', '-ec', 'while [ "$1" != -- ]; do mount --bind "$1" "$2"; shift 2; done; shift; mount --make-rshared /; exec "$@"', 'sh',
      ...binds, '--', this.assets.bins.containerd, '--config', join(this.dir, 'containerd', 'config.toml'),
    ]);
    // The socket file appears before containerd serves on it.
    await this.until('containerd socket', () => accepts(this.socket), () => containerd.running, containerd.logTail());
    await this.importImages(this.assets.images);
    const pid = containerd.pid;
    if (pid === undefined) throw new KegError('LAB_NODE_START_FAILED', `containerd of ${this.m.computerName} exited:\n${containerd.logTail()}`);
    this.lab.procs.start(this.kubeletName, [
      'nsenter', `--target=${pid}`, '--mount', '--net', this.assets.bins.kubelet,
      `--config=${join(this.dir, 'kubelet-config.json')}`, `--kubeconfig=${join(this.dir, 'kubelet.kubeconfig')}`,
      `--root-dir=${join(this.dir, 'kubelet')}`, `--hostname-override=${this.m.computerName}`, `--node-ip=${this.m.ip}`,
      `--node-labels=${Object.entries(this.labels()).map(([k, v]) => `${k}=${v}`).join(',')}`, '--v=1',
    ]);
  }

  /** Imports OCI archives into the node's containerd, where the kubelet finds them (there is no registry). */
  async importImages(images: readonly LocalImage[]): Promise<void> {
    for (const image of images) {
      // An archive that names its image by a bare ref (buildah's) is imported as a whole under `name`:
      // ctr would keep the bare ref, which the CRI plugin normalizes to docker.io/library/... and then cannot find.
      // The base name filters that bare ref out.
      const naming = image.indexOnly ? ['--base-name', image.name.slice(0, image.name.lastIndexOf(':')), '--index-name', image.name] : [];
      await this.lab.runner.run([this.assets.bins.ctr, '-a', this.socket, '-n', 'k8s.io', 'images', 'import', ...naming, image.archive], { timeoutMs: 300_000 });
    }
  }

  /**
   * The one Service rule kube-proxy would give this node that the product's
   * pods need: in-cluster clients dial the `kubernetes` Service's ClusterIP.
   * DNAT to its endpoint, for pods (PREROUTING) and hostNetwork pods (OUTPUT).
   * Rules live in the node's namespace and go with it.
   */
  private async routeApiService(): Promise<void> {
    const svc = await this.lab.kube.rest.get<{ spec: { clusterIP: string; ports: { port: number }[] } }>(resourcePath(CORE.services, 'default', 'kubernetes'));
    const port = String(svc.spec.ports[0]?.port ?? 443);
    for (const chain of ['PREROUTING', 'OUTPUT']) {
      await this.lab.runner.run(['nsenter', `--net=${this.m.path}`, 'iptables', '-t', 'nat', '-A', chain,
        '-d', `${svc.spec.clusterIP}/32`, '-p', 'tcp', '--dport', port, '-j', 'DNAT', '--to-destination', this.m.apiEndpoint]);
    }
  }

  /** Labels as AKS sets them: the pool of every node, and the gateway pool's mode label. */
  labels(): Record<string, string> {
    return { 'kubernetes.azure.com/agentpool': this.m.pool, ...(this.m.gateway ? { [GATEWAY_NODE_LABEL]: GATEWAY_NODE_LABEL_VALUE } : {}) };
  }

  /**
   * The kubelet authenticates with the lab's admin token: the test apiserver
   * runs RBAC only (no Node authorizer, no client CA), so there is no node
   * identity to give it.
   */
  private writeKubeconfig(): void {
    const token = this.lab.kube.kubeConfig.getCurrentUser()?.token;
    if (!token) throw new KegError('LAB_NODE_START_FAILED', 'the lab kubeconfig has no admin token for the kubelet');
    writeTokenKubeconfig(this.lab.kube.kubeConfig, token, join(this.dir, 'kubelet.kubeconfig'), { user: 'kubelet', server: this.m.apiServer });
  }

  /**
   * Waits until the kubelet reports the node Ready and kube-controller-manager
   * has lifted the condition taints (node.kubernetes.io/not-ready and the
   * like) it puts on every new node: only then do pods schedule there.
   */
  async waitReady(timeoutMs = 90_000): Promise<void> {
    const kubelet = this.lab.procs.get(this.kubeletName);
    await this.until('node Ready and untainted', async () => {
      const node = await this.lab.kube.rest.get<{ spec?: { taints?: { key: string }[] }; status?: { conditions?: { type: string; status: string }[] } }>(resourcePath(CORE.nodes, undefined, this.m.computerName)).catch(() => undefined);
      const ready = node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
      return ready && !(node?.spec?.taints ?? []).some((t) => t.key.startsWith('node.kubernetes.io/'));
    }, () => kubelet?.running ?? false, kubelet?.logTail() ?? '', timeoutMs);
  }

  /**
   * Stops kubelet, kills every process in the node's cgroups (the
   * containers), then the shims, which outlive containerd by design, then
   * containerd; removes the cgroups. The mount namespace goes with its last
   * process; the network namespace with the lab's network.
   */
  async stop(): Promise<void> {
    await this.lab.procs.stop(this.kubeletName);
    await this.killCgroupProcesses();
    for (const pid of this.shimPids()) killQuietly(pid);
    await this.lab.procs.stop(this.containerdName);
    await this.killCgroupProcesses();
    this.removeCgroups();
  }

  private hierarchies(): string[] {
    if (!existsSync(CGROUP_ROOT)) return [];
    return readdirSync(CGROUP_ROOT).map((h) => join(CGROUP_ROOT, h)).filter((p) => !lstatSync(p).isSymbolicLink() && lstatSync(p).isDirectory());
  }

  private makeCgroups(): void {
    for (const h of this.hierarchies()) mkdirSync(join(h, this.cgroupParent), { recursive: true });
  }

  private async killCgroupProcesses(): Promise<void> {
    for (let round = 0; round < 50; round++) {
      const pids = this.hierarchies().flatMap((h) => cgroupTreePids(join(h, this.cgroupParent)));
      if (pids.length === 0) return;
      for (const pid of new Set(pids)) killQuietly(pid);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private removeCgroups(): void {
    for (const h of this.hierarchies()) removeTree(join(h, this.cgroupParent));
  }

  /** containerd-shim-runc-v2 processes serving this node's containerd. */
  private shimPids(): number[] {
    return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).flatMap((d) => {
      try {
        const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
        return argv[0]?.endsWith('containerd-shim-runc-v2') && argv.includes(this.socket) ? [Number(d)] : [];
      } catch {
        return [];
      }
    });
  }

  private async until(what: string, ok: () => boolean | Promise<boolean>, alive: () => boolean, log: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await ok())) {
      if (!alive() || Date.now() > deadline) {
        throw new KegError('LAB_NODE_START_FAILED', `${this.m.computerName}: no ${what} (${alive() ? 'timed out' : 'process exited'}); log tail:\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Pids in a cgroup and its descendants; cgroups vanish while containers exit, which is no error. */
export function cgroupTreePids(dir: string): number[] {
  try {
    const own = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    return [...own, ...subdirs(dir).flatMap((sub) => cgroupTreePids(join(dir, sub)))];
  } catch {
    return [];
  }
}

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

function removeTree(dir: string): void {
  for (const sub of subdirs(dir)) removeTree(join(dir, sub));
  try {
    rmdirSync(dir);
  } catch {
    // Gone already, or a process is left: the tests' leak check reports that, it is not hidden here.
  }
}

function accepts(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = createConnection(socket, () => {
      conn.destroy();
      resolve(true);
    });
    conn.on('error', () => resolve(false));
  });
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}
