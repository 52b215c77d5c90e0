/**
 * A CNI test bed: a "node" network namespace in which the real cnitool runs
 * the chain bridge + host-local, then kube-egress-cni. The bridge and every
 * pod-side link live in namespaces the test owns; the host's are untouched.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommandError, type CommandRunner, ExecRunner, inNetns } from '../../lib/exec/runner.ts';
import { WgLinks } from '../../lib/wireguard/link.ts';
import { SPARE_PREFIX } from '../../cni/podnet/pool.ts';
import { PodRecordSchema } from '../../cni/podnet/record.ts';
import { createLogger } from '../../lib/log.ts';
import { type Teardown, tempNetns, uniqueSuffix } from '../netns.ts';
import { type CniBinaries, resolveCniBinaries, SPEC_VERSION } from './binaries.ts';

const runner = new ExecRunner();
const PLUGIN_MAIN = fileURLToPath(new URL('../../cni/plugin/main.ts', import.meta.url));

let binaries: Promise<CniBinaries> | undefined;

/** Resolves cnitool and the reference plugins once per process; `npm test` builds them beforehand. */
export function cniBinaries(): Promise<CniBinaries> {
  binaries ??= resolveCniBinaries({ runner, log: createLogger({ level: 'warn' }) });
  return binaries;
}

export interface CniLabOptions {
  /** The plugin executable; default: a wrapper running cni/plugin/main.ts with this Node. */
  plugin?: string;
  /** Third octet of the pod subnet 10.<n>.0.0/24 (unique per test file avoids confusion in logs). */
  subnetOctet?: number;
  /**
   * false: the conf dir starts empty and the plugin is not in the bin dir; a
   * test writes a primary network (primaryFile) and the agent installs and
   * chains the plugin, as on a node. Default: chained by hand (10-keg.conflist).
   */
  chained?: boolean;
}

/** Primary network shapes: AKS's Azure CNI (a primary plugin then portmap), kubenet (bridge + host-local + portmap), a single-plugin .conf or .json. */
export type PrimaryShape = 'azure' | 'kubenet' | 'conf' | 'json';

export interface CniCall {
  capArgs?: Record<string, unknown>;
  cniArgs?: Record<string, string>;
  /** The PATH the runtime runs the chain with (default: this process's). */
  path?: string;
}

export interface CniOutcome {
  ok: boolean;
  stdout: string;
  stderr: string;
  code: number | null;
}

/** A test's CNI bed. */
export class CniLab {
  readonly dir: string;
  readonly binDir: string;
  readonly confDir: string;
  readonly stateDir: string;
  readonly agentStateDir: string;
  readonly socket: string;
  readonly netName: string;
  /** The same bridge network without our plugin (same bridge and IP pool): the primary plugin alone. */
  readonly primaryNet: string;
  readonly bridge: string;
  readonly subnet: string;
  readonly gateway: string;
  readonly node: { name: string; path: string };
  /** The plugin executable the agent installs (a lab made with chained: false). */
  readonly pluginSource: string;
  private readonly bins: CniBinaries;

  private constructor(dir: string, node: { name: string; path: string }, bins: CniBinaries, octet: number) {
    this.dir = dir;
    this.node = node;
    this.bins = bins;
    this.binDir = join(dir, 'bin');
    this.confDir = join(dir, 'net.d');
    this.stateDir = join(dir, 'plugin-state');
    this.agentStateDir = join(dir, 'agent-state');
    this.socket = join(dir, 'run', 'cni.sock');
    this.netName = `kegnet-${uniqueSuffix()}`;
    this.primaryNet = `${this.netName}-primary`;
    this.bridge = `kegbr-${uniqueSuffix()}`;
    this.subnet = `10.${octet}.0.0/24`;
    this.gateway = `10.${octet}.0.1`;
    this.pluginSource = join(dir, 'kube-egress-cni.source');
  }

  static async create(t: Teardown, opts: CniLabOptions = {}): Promise<CniLab> {
    const bins = await cniBinaries();
    const dir = mkdtempSync(join(tmpdir(), 'keg-cni-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const node = await tempNetns(t, 'node');
    const lab = new CniLab(dir, node, bins, opts.subnetOctet ?? 77);
    lab.install(opts.plugin, opts.chained ?? true);
    return lab;
  }

  private install(plugin: string | undefined, chained: boolean): void {
    for (const d of [this.binDir, this.confDir]) mkdirSync(d, { recursive: true });
    for (const name of ['bridge', 'host-local', 'portmap']) writeWrapper(join(this.binDir, name), [join(this.bins.pluginDir, name)]);
    const argv = plugin ? [plugin] : [process.execPath, PLUGIN_MAIN];
    if (!chained) {
      writeWrapper(this.pluginSource, argv);
      return;
    }
    writeWrapper(join(this.binDir, 'kube-egress-cni'), argv);
    writeFileSync(join(this.confDir, '10-keg.conflist'), JSON.stringify(this.conflist(), null, 2));
    const primary = this.conflist();
    writeFileSync(join(this.confDir, '20-primary.conflist'), JSON.stringify({ ...primary, name: this.primaryNet, plugins: (primary.plugins as unknown[]).slice(0, 1) }));
  }

  /** The chain as a cluster would have it after the agent inserted itself. */
  conflist(): Record<string, unknown> {
    return {
      cniVersion: SPEC_VERSION,
      name: this.netName,
      plugins: [
        {
          type: 'bridge', bridge: this.bridge, isGateway: true, ipMasq: false,
          ipam: { type: 'host-local', subnet: this.subnet, dataDir: join(this.dir, 'ipam'), routes: [{ dst: '0.0.0.0/0' }] },
        },
        { type: 'kube-egress-cni', socketPath: this.socket, stateDir: this.stateDir, logLevel: 'debug', capabilities: { 'io.kubernetes.cri.pod-annotations': true } },
      ],
    };
  }

  /**
   * A primary network in `version` and `shape` (the bridge + host-local stand
   * in for Azure CNI's azure-vnet), as the file its CNI would write, under
   * this lab's network name.
   */
  primaryFile(shape: PrimaryShape, version: string): { name: string; content: Record<string, unknown> } {
    const bridge = (this.conflist().plugins as Record<string, unknown>[])[0] as Record<string, unknown>;
    const portmap = { type: 'portmap', capabilities: { portMappings: true } };
    if (shape === 'conf' || shape === 'json') return { name: `10-single.${shape}`, content: { cniVersion: version, name: this.netName, ...bridge } };
    return { name: shape === 'azure' ? '10-azure.conflist' : '10-kubenet.conflist', content: { cniVersion: version, name: this.netName, plugins: [bridge, portmap] } };
  }

  /** Flags that make the agent install the plugin into this lab and chain it (a lab made with chained: false). */
  installFlags(): string[] {
    return [`--plugin-binary=${this.pluginSource}`, `--cni-bin-dir=${this.binDir}`, `--cni-conf-dir=${this.confDir}`, `--plugin-state-dir=${this.stateDir}`, '--conflist-check-interval=2s'];
  }

  /** Runs `cnitool <verb> <net> <netns>` inside the node namespace. */
  async cnitool(verb: 'add' | 'del' | 'check' | 'gc' | 'status', podNetns: string, call: CniCall = {}, net = this.netName): Promise<CniOutcome> {
    const env: Record<string, string> = { NETCONFPATH: this.confDir, CNI_PATH: this.binDir };
    if (call.capArgs) env.CAP_ARGS = JSON.stringify(call.capArgs);
    if (call.cniArgs) env.CNI_ARGS = Object.entries(call.cniArgs).map(([k, v]) => `${k}=${v}`).join(';');
    try {
      const withPath = call.path === undefined ? [] : ['/usr/bin/env', `PATH=${call.path}`];
      const r = await runner.run(['nsenter', `--net=${this.node.path}`, '--', ...withPath, this.bins.cnitool, verb, net, podNetns], { env, timeoutMs: 120_000 });
      return { ok: true, stdout: r.stdout, stderr: r.stderr, code: 0 };
    } catch (err) {
      if (!(err instanceof CommandError)) throw err;
      return { ok: false, stdout: err.stdout, stderr: err.stderr, code: err.exitCode };
    }
  }

  /** Our plugin's entry as a single network configuration, as libcni hands it to the plugin. */
  pluginConf(extra: Record<string, unknown> = {}): Record<string, unknown> {
    const entry = { ...((this.conflist().plugins as Record<string, unknown>[])[1]) };
    delete entry.capabilities;
    return { cniVersion: SPEC_VERSION, name: this.netName, ...entry, ...extra };
  }

  /** Runs the plugin executable directly in the node namespace, as a runtime would. */
  async invoke(env: Record<string, string>, stdin: string): Promise<CniOutcome> {
    try {
      const r = await runner.run(['nsenter', `--net=${this.node.path}`, '--', join(this.binDir, 'kube-egress-cni')], { env, input: stdin, timeoutMs: 120_000 });
      return { ok: true, stdout: r.stdout, stderr: r.stderr, code: 0 };
    } catch (err) {
      if (!(err instanceof CommandError)) throw err;
      return { ok: false, stdout: err.stdout, stderr: err.stderr, code: err.exitCode };
    }
  }

  /** WireGuard links of ours left in the node namespace for a pod (see `podLinksIn`). */
  podLinksOnNode(): Promise<string[]> {
    return podLinksIn(inNetns(runner, this.node.path));
  }

  /** The agent's pod records (its state dir also holds the spare links' ledger, `spares/`). */
  agentRecords(): string[] {
    return existsSync(this.agentStateDir) ? readdirSync(this.agentStateDir).filter((f) => f.endsWith('.json')) : [];
  }

  /** The host link name the agent recorded for a container (its wireguard-go socket name). */
  hostLinkOf(containerId: string): string {
    return PodRecordSchema.parse(JSON.parse(readFileSync(join(this.agentStateDir, `${encodeURIComponent(containerId)}.json`), 'utf8'))).hostLink;
  }

  /** The CNI_ARGS and CAP_ARGS kubelet/containerd would pass for a pod. */
  static podCall(namespace: string, name: string, annotations?: Record<string, string>): CniCall {
    return {
      cniArgs: { IgnoreUnknown: '1', K8S_POD_NAMESPACE: namespace, K8S_POD_NAME: name },
      ...(annotations !== undefined && { capArgs: { 'io.kubernetes.cri.pod-annotations': annotations } }),
    };
  }
}

export function writeWrapper(path: string, argv: string[]): void {
  // A fixture executable: the runtime execs plugins by path, so each needs a file in CNI_PATH.
  writeFileSync(path, `#!/bin/sh\nexec ${argv.map((a) => `'${a}'`).join(' ')} "$@"\n`);
  chmodSync(path, 0o755);
}

/**
 * WireGuard links of ours in a node's namespace that belong to a pod: every
 * one but the agent's spares, which wait there unkeyed (cni/podnet/pool.ts).
 */
export async function podLinksIn(node: CommandRunner): Promise<string[]> {
  const links = new WgLinks(node);
  const out: string[] = [];
  for (const link of await links.list()) {
    const spare = link.wgName.startsWith(SPARE_PREFIX) && (await links.wg(link).show(link.wgName)).publicKey === null;
    if (!spare) out.push(link.ifname);
  }
  return out;
}
