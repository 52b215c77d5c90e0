/**
 * A gateway node in network namespaces, for the daemon's tests and benchmark.
 *
 *   pod netns (wg via wireguard-go + wg)       server netns 203.0.113.10 (echo.ts)
 *        eth0 10.1.<i>.2 ──┐                ┌── eth0
 *                          router netns (forwards; routes the ILB IP and
 *                          the secondary IPs to the node, like Azure)
 *                                  │
 *                    node netns: eth0 10.0.0.4/24 ── the daemon runs here (nsenter),
 *                                creating its gateway namespace and links
 *
 * The apiserver listens on the test process's loopback; the lab's portal makes it
 * reachable on the node namespace's loopback. Everything is removed in teardown.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ExecRunner, inNetns } from '../../lib/exec/runner.ts';
import { API_VERSION, SECRET_KEY_PRIVATE, SECRET_KEY_PUBLIC, gatewaySecretName } from '../../lib/api/constants.ts';
import { RESOURCES } from '../../lib/api/resources.ts';
import { CORE, resourcePath } from '../../lib/kube/paths.ts';
import { generatePrivateKey, type PrivateKey } from '../../lib/wireguard/keys.ts';
import { Wg } from '../../lib/wireguard/wg.ts';
import { Ip } from '../../lib/net/ip.ts';
import { Nft } from '../../lib/net/nft.ts';
import { renderState } from '../../lib/net/ip-state.ts';
import { deleteNetns, netnsPath } from '../../lib/net/netns.ts';
import { type Teardown, tempNetns, uniqueSuffix } from '../../testenv/netns.ts';
import { startTestKube, type TestKube } from '../../testenv/kubeapi/index.ts';
import { parseEndpoint, startPortal } from '../../lab/portal.ts';

export const runner = new ExecRunner();
const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const PORTAL_MAIN = here('../../lab/portal-main.ts');
export const NODE = { name: 'gw-node-0', ip: '10.0.0.4' };
export const ILB_IP = '10.0.0.100';
export const SERVER_IP = '203.0.113.10';
export const SERVER_PORT = 7777;
export const APP_NS = 'app';
export const SYSTEM_NS = 'keg-system';

export interface Ns { name: string; path: string }

export interface GatewayFixture {
  name: string;
  uid: string;
  port: number;
  secondaryIp: string;
  key: PrivateKey;
}

export interface Pod {
  ns: Ns;
  ip: string;
  key: PrivateKey;
  /** The pod's wg device (wireguard-go, host-wide unique name). */
  dev: string;
}

export interface Daemon {
  proc: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

export class Lab {
  readonly kube: TestKube;
  readonly router: Ns;
  readonly node: Ns;
  readonly server: Ns;
  /** The daemon's flags that name host-wide things, unique to this lab. */
  readonly gwNetns: string;
  readonly linkPrefix: string;
  private readonly t: Teardown;
  private readonly dir: string;
  private pods = 0;

  private constructor(t: Teardown, kube: TestKube, router: Ns, node: Ns, server: Ns) {
    this.t = t;
    this.kube = kube;
    this.router = router;
    this.node = node;
    this.server = server;
    const suffix = uniqueSuffix();
    this.gwNetns = `keg-gw-${suffix}`;
    this.linkPrefix = `g${suffix.slice(0, 4)}-`;
    this.dir = mkdtempSync(join(tmpdir(), 'keg-gwlab-'));
    t.teardown(() => rmSync(this.dir, { recursive: true, force: true }));
    // The daemon leaves its data path in place on exit, by design: remove it here.
    t.teardown(async () => {
      await deleteNetns(runner, this.gwNetns);
      await runner.run(['sh', '-c', `rm -f /var/run/wireguard/${this.linkPrefix}*.sock`]).catch(() => {});
    });
  }

  static async start(t: Teardown): Promise<Lab> {
    const kube = await startTestKube(t);
    const [router, node, server] = [await tempNetns(t, 'gr'), await tempNetns(t, 'gn'), await tempNetns(t, 'gs')];
    const lab = new Lab(t, kube, router, node, server);
    await lab.wire();
    for (const ns of [APP_NS, SYSTEM_NS]) await kube.rest.create(resourcePath(CORE.namespaces), { metadata: { name: ns } });
    return lab;
  }

  private async wire(): Promise<void> {
    const r = this.router.name;
    await veth(r, 'rn', '10.0.0.1/24', this.node.name, `${NODE.ip}/24`);
    await veth(r, 'rs', '203.0.113.1/24', this.server.name, `${SERVER_IP}/24`);
    await ipIn(this.node, ['route', 'add', 'default', 'via', '10.0.0.1']);
    await ipIn(this.server, ['route', 'add', 'default', 'via', '203.0.113.1']);
    await inNetns(runner, this.router.path).run(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    // Like Azure: the ILB frontend and the gateways' secondary IPs are delivered to the node.
    await ipIn(this.router, ['route', 'add', `${ILB_IP}/32`, 'via', NODE.ip]);
    await ipIn(this.router, ['route', 'add', '10.0.0.64/26', 'via', NODE.ip]);
    await this.spawnIn(this.server, [here('./echo.ts'), 'server', String(SERVER_PORT)], 'listening');
    await this.forwardToNode(Number(new URL(this.kube.server).port));
  }

  /** 127.0.0.1:<port> inside the node namespace reaches 127.0.0.1:<port> of the test process (the apiserver, IMDS). */
  async forwardToNode(port: number): Promise<void> {
    const sock = join(this.dir, `fwd-${port}.sock`);
    const portal = await startPortal(parseEndpoint(`unix:${sock}`), parseEndpoint(`tcp:127.0.0.1:${port}`));
    this.t.teardown(() => portal.close());
    await this.spawnIn(this.node, [PORTAL_MAIN, '--listen', `tcp:127.0.0.1:${port}`, '--connect', `unix:${sock}`], 'ready');
  }

  /** Runs `node <args>` inside `ns` until teardown; resolves when it printed `ready`. */
  async spawnIn(ns: Ns, args: string[], ready: string): Promise<ChildProcess> {
    const proc = spawn('nsenter', [`--net=${ns.path}`, '--', process.execPath, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.t.teardown(() => stopProcess(proc));
    let out = '';
    proc.stdout.setEncoding('utf8');
    await new Promise<void>((resolve, reject) => {
      proc.stdout.on('data', (c: string) => {
        out += c;
        if (out.includes(ready)) resolve();
      });
      proc.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code} before ready`)));
    });
    return proc;
  }

  /** Starts the daemon as a child process inside the node namespace. */
  startDaemon(extra: string[] = ['--node-name', NODE.name]): Daemon {
    const args = [
      '--kubeconfig', this.kube.kubeconfigPath, '--namespace', SYSTEM_NS,
      '--netns-name', this.gwNetns, '--link-prefix', this.linkPrefix, '--host-interface', 'eth0',
      '--probe-bind-address', '127.0.0.1:8082', '--metrics-bind-address', '127.0.0.1:8080',
      '--drain-seconds', '1', '--log-level', 'debug', ...extra,
    ];
    const proc = spawn('nsenter', [`--net=${this.node.path}`, '--', process.execPath, here('../bin.ts'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    proc.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
    proc.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
    const exited = once(proc, 'exit').then(([code]) => code as number | null);
    // SIGTERM first: a daemon that exits normally also reports its coverage.
    this.t.teardown(() => stopProcess(proc, 'SIGTERM'));
    return { proc, output: () => output, exited };
  }

  /** Writes what the operator would for one SGC served by this node: SGC + status, key Secret, GatewayVMConfiguration + status. */
  /** `servedBy`: the nodes of the GatewayVMConfiguration (default: this node, with `secondaryIp`). */
  async createGateway(name: string, port: number, secondaryIp: string, servedBy?: { nodeName: string; primaryIP: string; secondaryIP: string }[]): Promise<GatewayFixture> {
    const rest = this.kube.rest;
    const sgcType = RESOURCES.StaticGatewayConfiguration;
    const sgc = await rest.create<{ metadata: { uid: string } }>(resourcePath(sgcType, APP_NS), {
      apiVersion: API_VERSION, kind: 'StaticGatewayConfiguration', metadata: { name }, spec: { gatewayNodepoolName: 'gwpool' },
    });
    const uid = sgc.metadata.uid;
    const key = generatePrivateKey();
    await rest.create(resourcePath(CORE.secrets, SYSTEM_NS), {
      metadata: { name: gatewaySecretName(uid) }, data: { [SECRET_KEY_PRIVATE]: b64(key.revealBase64()), [SECRET_KEY_PUBLIC]: b64(key.publicKey()) },
    });
    await rest.create(resourcePath(RESOURCES.GatewayVMConfiguration, APP_NS), {
      apiVersion: API_VERSION, kind: 'GatewayVMConfiguration', metadata: { name }, spec: { gatewayNodepoolName: 'gwpool' },
    });
    await this.setVmProfiles(name, servedBy ?? [{ nodeName: NODE.name, primaryIP: NODE.ip, secondaryIP: secondaryIp }]);
    await rest.patch(resourcePath(sgcType, APP_NS, name, 'status'), {
      status: {
        egressIpPrefix: `${secondaryIp}/32`,
        gatewayServerProfile: { ip: ILB_IP, port, publicKey: key.publicKey(), privateKeySecretRef: { name: gatewaySecretName(uid), namespace: SYSTEM_NS } },
      },
    });
    return { name, uid, port, secondaryIp, key };
  }

  async setVmProfiles(name: string, profiles: { nodeName: string; primaryIP: string; secondaryIP: string }[]): Promise<void> {
    await this.kube.rest.patch(resourcePath(RESOURCES.GatewayVMConfiguration, APP_NS, name, 'status'), { status: { gatewayVMProfiles: profiles } });
  }

  async deleteGateway(name: string): Promise<void> {
    await this.kube.rest.delete(resourcePath(RESOURCES.StaticGatewayConfiguration, APP_NS, name));
    await this.kube.rest.delete(resourcePath(RESOURCES.GatewayVMConfiguration, APP_NS, name));
  }

  /**
   * A pod: its own namespace on the "VNet", a WireGuard device made with
   * wireguard-go and configured with plain `wg`/`ip` (not our code), its pod
   * IP on the device, and the server's network routed into it.
   */
  async addPod(ip: string, gw: GatewayFixture): Promise<Pod> {
    const i = ++this.pods;
    const ns = await tempNetns(this.t, 'gp');
    await veth(this.router.name, `rp${i}`, `10.1.${i}.1/24`, ns.name, `10.1.${i}.2/24`);
    await ipIn(ns, ['route', 'add', 'default', 'via', `10.1.${i}.1`]);
    const dev = `kp${uniqueSuffix()}`;
    this.t.teardown(() => runner.run(['rm', '-f', `/var/run/wireguard/${dev}.sock`]));
    await inNetns(runner, ns.path).run(['setsid', 'env', '-u', 'LOG_LEVEL', '-u', 'WG_PROCESS_FOREGROUND', 'wireguard-go', dev]);
    await runner.run(['wg', 'show', dev]);
    const pod: Pod = { ns, ip, key: generatePrivateKey(), dev };
    const keyFile = join(this.dir, `${dev}.key`);
    writeFileSync(keyFile, pod.key.revealBase64(), { mode: 0o600 });
    await runner.run(['wg', 'set', dev, 'private-key', keyFile]);
    await this.pointPod(pod, gw);
    await ipIn(ns, ['addr', 'add', `${ip}/32`, 'dev', dev]);
    await ipIn(ns, ['link', 'set', dev, 'up']);
    await ipIn(ns, ['route', 'add', '203.0.113.0/24', 'dev', dev]);
    return pod;
  }

  /** Points the pod's only peer at a gateway (its ILB IP, port and public key). */
  async pointPod(pod: Pod, gw: GatewayFixture): Promise<void> {
    const { peers } = await new Wg(runner).show(pod.dev);
    for (const p of peers) await runner.run(['wg', 'set', pod.dev, 'peer', p.publicKey, 'remove']);
    await runner.run(['wg', 'set', pod.dev, 'peer', gw.key.publicKey(), 'endpoint', `${ILB_IP}:${gw.port}`, 'allowed-ips', '203.0.113.0/24']);
  }

  async createEndpoint(name: string, sgc: string, pod: { ip: string; publicKey: string }): Promise<void> {
    await this.kube.rest.create(resourcePath(RESOURCES.PodEndpoint, APP_NS), {
      apiVersion: API_VERSION, kind: 'PodEndpoint', metadata: { name },
      spec: { staticGatewayConfiguration: sgc, podIpAddress: `${pod.ip}/32`, podPublicKey: pod.publicKey },
    });
  }

  async deleteEndpoint(name: string): Promise<void> {
    await this.kube.rest.delete(resourcePath(RESOURCES.PodEndpoint, APP_NS, name));
  }

  /**
   * One TCP connection from the pod to the server, a numbered line every
   * 100 ms, echoed back; resolves once it flows with source `src`.
   * `echoed()` lists the complete lines received (the greeting and maybe
   * line 1 go to the readiness check), `raw()` everything.
   */
  async stream(pod: Pod, src: string): Promise<{ echoed: () => number[]; raw: () => string }> {
    const client = await this.spawnIn(pod.ns, [here('./echo.ts'), 'client', SERVER_IP, String(SERVER_PORT)], `src ${src}`);
    let received = '';
    client.stdout?.on('data', (c: string) => (received += c));
    return { echoed: () => received.split('\n').slice(0, -1).filter((l) => /^\d+$/.test(l)).map(Number), raw: () => received };
  }

  /** The server's view of the pod's source address, or undefined when nothing came back. */
  async sourceSeenBy(pod: Pod): Promise<string | undefined> {
    const res = await inNetns(runner, pod.ns.path)
      .run(['curl', '-s', '-m', '3', `http://${SERVER_IP}:${SERVER_PORT}/`])
      .catch(() => undefined);
    return /^src (\S+)/.exec(res?.stdout ?? '')?.[1];
  }

  /** HTTP status of GET <path> on the node's loopback (the probe and ops servers). */
  async httpStatus(path: string, port = 8082): Promise<number> {
    const res = await inNetns(runner, this.node.path)
      .run(['curl', '-s', '--path-as-is', '-o', '/dev/null', '-w', '%{http_code}', '-m', '3', `http://127.0.0.1:${port}${path}`])
      .catch(() => ({ stdout: '0' }));
    return Number(res.stdout);
  }

  async httpBody(path: string, port: number): Promise<string> {
    return (await inNetns(runner, this.node.path).run(['curl', '-s', '-m', '3', `http://127.0.0.1:${port}${path}`])).stdout;
  }

  /** Public keys on the gateway's link ([] when there is no link). */
  async gatewayPeers(port: number): Promise<string[]> {
    try {
      return (await new Wg(runner).show(`${this.linkPrefix}${port}`)).peers.map((p) => p.publicKey);
    } catch {
      return [];
    }
  }

  /** The node and gateway namespaces' whole ip and nft state as text, for before/after comparisons. */
  async state(): Promise<{ node: string[]; nodeNft: string; gw: string[] | undefined; gwNft: string | undefined }> {
    const nodeRunner = inNetns(runner, this.node.path);
    const gwPath = netnsPath(this.gwNetns);
    const hasGw = existsSync(gwPath);
    return {
      node: await renderState(new Ip(nodeRunner), { families: ['inet'] }),
      nodeNft: byTable(await new Nft(nodeRunner).rulesetText()),
      gw: hasGw ? await renderState(new Ip(inNetns(runner, gwPath)), { families: ['inet'] }) : undefined,
      gwNft: hasGw ? byTable(await new Nft(inNetns(runner, gwPath)).rulesetText()) : undefined,
    };
  }
}

/**
 * A ruleset's tables in name order. nft lists tables in creation order, and
 * replacing a table recreates it, so the order says which table a reconcile
 * wrote last (a snapshot taken mid-resync differs only in that), not what the
 * state is: hooks order chains by priority, never by table.
 */
function byTable(ruleset: string): string {
  return ruleset.split(/(?=^table )/m).toSorted().join('');
}

/**
 * Polls `check` every 20 ms until true (a throw counts as false: state read
 * while the daemon changes it); returns the time it took, or undefined after `timeoutMs`.
 */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<number | undefined> {
  const start = performance.now();
  while (performance.now() - start < timeoutMs) {
    if (await Promise.resolve().then(check).catch(() => false)) return performance.now() - start;
    await sleep(20);
  }
  return undefined;
}

async function veth(nsA: string, nameA: string, cidrA: string, nsB: string, cidrB: string): Promise<void> {
  await runner.run(['ip', '-n', nsA, 'link', 'add', nameA, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', nsB]);
  await runner.run(['ip', '-n', nsA, 'addr', 'add', cidrA, 'dev', nameA]);
  await runner.run(['ip', '-n', nsB, 'addr', 'add', cidrB, 'dev', 'eth0']);
  await runner.run(['ip', '-n', nsA, 'link', 'set', nameA, 'up']);
  await runner.run(['ip', '-n', nsB, 'link', 'set', 'eth0', 'up']);
}

function b64(s: string): string {
  return Buffer.from(s).toString('base64');
}

async function ipIn(ns: Ns, args: string[]): Promise<void> {
  await runner.run(['ip', '-n', ns.name, ...args]);
}

async function stopProcess(proc: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = once(proc, 'exit');
  proc.kill(signal);
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
