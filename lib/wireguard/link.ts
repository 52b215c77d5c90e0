import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { CommandError, type CommandRunner, inNetns } from '../exec/runner.ts';
import { KegError } from '../errors.ts';
import { startThroughHost } from './host.ts';
import { assertIfname } from './validate.ts';
import { uapiConfigure } from './uapi.ts';
import { type DeviceConfig, Wg } from './wg.ts';

/** kernel: `ip link add type wireguard`. userspace: a wireguard-go process behind a tun link. */
export type LinkKind = 'kernel' | 'userspace';

/**
 * A WireGuard link, wherever it lives now. Use {@link WgLinks.wg} with
 * `wgName` to configure it: the two kinds are reached differently.
 */
export interface WgLink {
  /** The link's current name in its namespace (for `ip`). */
  readonly ifname: string;
  /**
   * The name `wg` knows the device by. kernel: the current ifname, asked
   * inside the link's namespace. userspace: the name it was created with,
   * because wireguard-go's control socket is /var/run/wireguard/<name>.sock
   * in a directory shared by all namespaces, and `wg` looks there first.
   */
  readonly wgName: string;
  /** The namespace the link is in now; undefined: ours. */
  readonly netnsPath?: string;
  readonly kind: LinkKind;
}

export interface WgLinksOptions {
  /** Skip probing and use this kind (for hosts where the answer is known). */
  mode?: LinkKind;
  /** The wireguard-go executable. */
  wireguardGo?: string;
  /** Where wireguard-go puts its sockets; fixed in wireguard-go, configurable only for tests. */
  socketDir?: string;
  /** How long delete waits for wireguard-go to notice its link is gone before removing its socket. */
  exitTimeoutMs?: number;
  /**
   * The tunnel host's socket (lib/wireguard/host.ts): wireguard-go is then
   * started by that process, so it outlives this one's container.
   * Undefined: started here, as a child that detaches.
   */
  host?: string;
}

export interface CreateOptions {
  /**
   * The namespace to create the link in. The link's UDP socket stays in this
   * namespace for the link's whole life, wherever the link is moved later
   * (kernel: the creating namespace; wireguard-go: its process's namespace).
   */
  netnsPath?: string;
}

/** Links we create carry this alias; it survives moves and renames and names the wireguard-go socket. */
export const ALIAS_PREFIX = 'keg-wg:';

const UNSUPPORTED_KIND = /Unknown device type|Operation not supported/i;
const LINK_EXISTS = /File exists/;
// "No such device": the link went between ip's name lookup and its request
// (RTNETLINK ENODEV), e.g. a wireguard-go tun whose process is just ending.
const LINK_MISSING = /Cannot find device|does not exist|No such device|cannot open .*No such file/;

/**
 * Creates, moves, finds and deletes WireGuard links with one behaviour whether
 * the host has kernel WireGuard or only wireguard-go. The first create probes
 * for the kernel kind and the answer is kept for this instance.
 */
export class WgLinks {
  private readonly runner: CommandRunner;
  private readonly wireguardGo: string;
  private readonly socketDir: string;
  private readonly exitTimeoutMs: number;
  private readonly host: string | undefined;
  private kind: LinkKind | undefined;

  constructor(runner: CommandRunner, options: WgLinksOptions = {}) {
    this.runner = runner;
    this.kind = options.mode;
    this.wireguardGo = options.wireguardGo ?? 'wireguard-go';
    this.socketDir = options.socketDir ?? '/var/run/wireguard';
    this.exitTimeoutMs = options.exitTimeoutMs ?? 3000;
    this.host = options.host;
  }

  /** The kind this host uses, once known. */
  get mode(): LinkKind | undefined {
    return this.kind;
  }

  /** Creates a link, down, with no keys. `name` must be unique per host (wireguard-go sockets share one directory). */
  async create(name: string, options: CreateOptions = {}): Promise<WgLink> {
    assertIfname(name);
    const runner = inNetns(this.runner, options.netnsPath);
    const kind = await this.createLink(runner, name, options.netnsPath);
    const link: WgLink = { ifname: name, wgName: name, netnsPath: options.netnsPath, kind };
    try {
      await runner.run(['ip', 'link', 'set', 'dev', name, 'alias', ALIAS_PREFIX + name]);
    } catch (err) {
      await this.delete(link).catch(() => {});
      throw new KegError('WG_LINK_CREATE_FAILED', `cannot label WireGuard link ${name}`, { cause: err });
    }
    return link;
  }

  private async createLink(runner: CommandRunner, name: string, netnsPath: string | undefined): Promise<LinkKind> {
    if (this.kind !== 'userspace') {
      try {
        await runner.run(['ip', 'link', 'add', 'dev', name, 'type', 'wireguard']);
        this.kind = 'kernel';
        return 'kernel';
      } catch (err) {
        if (this.kind === 'kernel' || !UNSUPPORTED_KIND.test(stderrOf(err))) throw createError(name, err);
        this.kind = 'userspace';
      }
    }
    await this.startWireguardGo(runner, name, netnsPath);
    return 'userspace';
  }

  /**
   * Starts wireguard-go (here, or through the tunnel host) and returns once
   * its device is usable.
   *
   * wireguard-go creates the tun and the socket, forks a daemon and exits
   * before that daemon has finished starting; the daemon looks the tun up by
   * name in its own namespace, so moving the link at once kills it ("no such
   * device") and leaves a stale socket. The `wg show` afterwards is the
   * barrier: the socket is already listening, so `wg` blocks until the daemon
   * answers, which it does only once fully started.
   */
  private async startWireguardGo(runner: CommandRunner, name: string, netnsPath: string | undefined): Promise<void> {
    if (this.host !== undefined) {
      // The host runs in the node's namespace: it cannot create a link elsewhere.
      if (netnsPath !== undefined) throw new KegError('WG_CONFIG_INVALID', `a link started by the tunnel host is created in the node's namespace, not ${netnsPath}`);
      await startThroughHost(this.host, name);
    } else {
      await this.spawnWireguardGo(runner, name);
    }
    try {
      await this.runner.run(['wg', 'show', name, 'listen-port']);
    } catch (err) {
      await this.removeSocket(name, 0).catch(() => {});
      throw new KegError('WG_LINK_CREATE_FAILED', `wireguard-go for ${name} did not start`, { cause: err });
    }
  }

  /**
   * The environment is scrubbed with `env -u` because wireguard-go steers
   * itself by it: with LOG_LEVEL set the daemon keeps our stdout and stderr
   * and the runner waits for it forever; WG_PROCESS_FOREGROUND, WG_TUN_FD and
   * WG_UAPI_FD are how it hands over to its daemon child, which reads the
   * first copy of each, so an inherited (even empty) value breaks the
   * hand-over (seen: a tun that vanishes; a chain of hundreds of
   * re-daemonizing processes). Unset is the only safe state.
   *
   * setsid gives it a session of its own, so signals meant for the caller's
   * process group (Ctrl-C, a CNI runtime timing out its plugin) leave the
   * tunnel alone.
   */
  private async spawnWireguardGo(runner: CommandRunner, name: string): Promise<void> {
    const scrub = ['-u', 'LOG_LEVEL', '-u', 'WG_PROCESS_FOREGROUND', '-u', 'WG_TUN_FD', '-u', 'WG_UAPI_FD'];
    try {
      await runner.run(['setsid', 'env', ...scrub, this.wireguardGo, name]);
    } catch (err) {
      // wireguard-go reports why on stdout, which a CommandError does not
      // carry; a socket of that name is the one reason we can tell apart.
      if (existsSync(this.socketPath(name))) {
        throw new KegError('WG_LINK_EXISTS', `a wireguard-go device named ${name} already exists on this host`, { cause: err });
      }
      throw createError(name, err);
    }
  }

  /**
   * Moves the link into the namespace at `netnsPath`, optionally renaming it in
   * the same step (the name may already be taken where it came from, as `wg0`
   * is in every pod). Its UDP socket does not move.
   */
  async move(link: WgLink, netnsPath: string, newName: string = link.ifname): Promise<WgLink> {
    assertIfname(newName);
    if (!netnsPath.startsWith('/')) {
      throw new KegError('WG_CONFIG_INVALID', `netns must be an absolute path, got ${JSON.stringify(netnsPath)}`);
    }
    const argv = ['ip', 'link', 'set', 'dev', link.ifname, 'netns', netnsPath];
    if (newName !== link.ifname) argv.push('name', newName);
    try {
      await inNetns(this.runner, link.netnsPath).run(argv);
    } catch (err) {
      throw new KegError('WG_LINK_MOVE_FAILED', `cannot move WireGuard link ${link.ifname} to ${netnsPath}`, { cause: err });
    }
    return { ...link, ifname: newName, netnsPath, wgName: link.kind === 'kernel' ? newName : link.wgName };
  }

  async setUp(link: WgLink): Promise<void> {
    try {
      await inNetns(this.runner, link.netnsPath).run(['ip', 'link', 'set', 'dev', link.ifname, 'up']);
    } catch (err) {
      throw new KegError('WG_LINK_UP_FAILED', `cannot bring WireGuard link ${link.ifname} up`, { cause: err });
    }
  }

  /**
   * Deletes the link. A link or namespace that is already gone is success.
   * For wireguard-go it also makes sure the process is gone and no socket is
   * left: deleting the tun (or its namespace) makes wireguard-go exit and
   * remove its socket by itself; a socket that stays (the process was killed
   * or is stuck) is removed, which wireguard-go watches for and exits on.
   */
  async delete(link: WgLink): Promise<void> {
    let missing = false;
    try {
      await inNetns(this.runner, link.netnsPath).run(['ip', 'link', 'del', 'dev', link.ifname]);
    } catch (err) {
      if (!LINK_MISSING.test(stderrOf(err))) {
        throw new KegError('WG_LINK_DELETE_FAILED', `cannot delete WireGuard link ${link.ifname}`, { cause: err });
      }
      missing = true;
    }
    if (link.kind === 'userspace') await this.removeSocket(link.wgName, missing ? 0 : this.exitTimeoutMs);
  }

  private async removeSocket(wgName: string, waitMs: number): Promise<void> {
    const socket = this.socketPath(wgName);
    for (const deadline = Date.now() + waitMs; existsSync(socket) && Date.now() < deadline; ) await sleep(10);
    if (!existsSync(socket)) return;
    try {
      await this.runner.run(['rm', '-f', '--', socket]);
    } catch (err) {
      throw new KegError('WG_LINK_DELETE_FAILED', `cannot remove wireguard-go socket ${socket}`, { cause: err });
    }
  }

  /** The path of a wireguard-go control socket. */
  socketPath(wgName: string): string {
    return `${this.socketDir}/${wgName}.sock`;
  }

  /**
   * Sets the link's private key and peers. wireguard-go's are set over its
   * control socket (no `wg` process, no scratch file for the key), kernel
   * links' with `wg set` in their namespace.
   */
  async configure(link: WgLink, config: DeviceConfig): Promise<void> {
    if (link.kind === 'userspace') {
      await uapiConfigure(this.socketPath(link.wgName), config);
    } else {
      await this.wg(link).configureDevice(link.wgName, config);
    }
  }

  /** A Wg that reaches this link; pass it `link.wgName`. */
  wg(link: WgLink): Wg {
    // wireguard-go's socket is reachable from anywhere; kernel links only from their namespace.
    return new Wg(link.kind === 'kernel' ? inNetns(this.runner, link.netnsPath) : this.runner);
  }

  /**
   * Finds a WireGuard link again by its current name and namespace (after a
   * restart, or in CNI DEL). undefined when there is no such link or
   * namespace; WG_LINK_FOREIGN when the name belongs to a link that is not a
   * WireGuard link (or a tun we did not create).
   */
  async find(ifname: string, netnsPath?: string): Promise<WgLink | undefined> {
    assertIfname(ifname);
    const links = await this.listRaw(['dev', ifname], netnsPath);
    const raw = links?.[0];
    if (raw === undefined) return undefined;
    const link = toLink(raw, netnsPath);
    if (link === undefined) throw new KegError('WG_LINK_FOREIGN', `${ifname} exists but is not a WireGuard link of ours`);
    return link;
  }

  /** Every WireGuard link we created in a namespace, kernel or wireguard-go. */
  async list(netnsPath?: string): Promise<WgLink[]> {
    const links = (await this.listRaw([], netnsPath)) ?? [];
    return links.map((raw) => toLink(raw, netnsPath)).filter((l) => l !== undefined);
  }

  private async listRaw(filter: string[], netnsPath: string | undefined): Promise<RawLink[] | undefined> {
    let stdout: string;
    try {
      ({ stdout } = await inNetns(this.runner, netnsPath).run(['ip', '-d', '-j', 'link', 'show', ...filter]));
    } catch (err) {
      if (LINK_MISSING.test(stderrOf(err))) return undefined;
      throw new KegError('WG_LINK_LIST_FAILED', `cannot list links${netnsPath ? ` in ${netnsPath}` : ''}`, { cause: err });
    }
    try {
      return JSON.parse(stdout) as RawLink[];
    } catch (err) {
      throw new KegError('WG_LINK_LIST_FAILED', 'ip -j link show printed invalid JSON', { cause: err });
    }
  }
}

/** The fields of `ip -d -j link show` this module reads. */
interface RawLink {
  ifname: string;
  ifalias?: string;
  linkinfo?: { info_kind?: string };
}

/**
 * Our links only: the alias set at creation marks them, kernel ones too, so
 * a WireGuard link someone else made under a name like ours is never
 * adopted, reconfigured or garbage-collected.
 */
function toLink(raw: RawLink, netnsPath: string | undefined): WgLink | undefined {
  const kind = raw.linkinfo?.info_kind;
  if (!raw.ifalias?.startsWith(ALIAS_PREFIX)) return undefined;
  if (kind === 'wireguard') return { ifname: raw.ifname, wgName: raw.ifname, netnsPath, kind: 'kernel' };
  if (kind === 'tun') {
    return { ifname: raw.ifname, wgName: raw.ifalias.slice(ALIAS_PREFIX.length), netnsPath, kind: 'userspace' };
  }
  return undefined;
}

/** For `find(...).catch(foreignAsAbsent)`: a link of that name that is not ours counts as none. */
export function foreignAsAbsent(err: unknown): undefined {
  if (err instanceof KegError && err.code === 'WG_LINK_FOREIGN') return undefined;
  throw err;
}

function stderrOf(err: unknown): string {
  return err instanceof CommandError ? err.stderr : '';
}

function createError(name: string, err: unknown): KegError {
  if (LINK_EXISTS.test(stderrOf(err))) {
    return new KegError('WG_LINK_EXISTS', `WireGuard link ${name} already exists on this host`, { cause: err });
  }
  return new KegError('WG_LINK_CREATE_FAILED', `cannot create WireGuard link ${name}`, { cause: err });
}
