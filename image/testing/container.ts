// Runs the built image without a container engine: the OCI archive is
// unpacked once with umoci (which turns the image config into an OCI runtime
// config: entrypoint, user, environment), and each container is a bundle over
// that shared, read-only rootfs, run with runc (crun 1.8 refuses this
// machine's hybrid cgroup layout). Containers get what a pod spec
// would give them: a user, capabilities, mounts, the host's or a given network
// namespace.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KegError } from '../../lib/errors.ts';
import { ExecRunner, type RunResult } from '../../lib/exec/runner.ts';
import { type Teardown, uniqueSuffix } from '../../testenv/netns.ts';

interface RuntimeSpec {
  process: { args: string[]; user: { uid: number; gid: number }; terminal: boolean; capabilities?: Record<string, string[]>; noNewPrivileges?: boolean };
  root: { path: string; readonly: boolean };
  mounts: { destination: string; type: string; source: string; options: string[] }[];
  linux: { namespaces: { type: string; path?: string }[]; devices?: unknown[]; resources?: { devices?: unknown[] }; maskedPaths?: string[]; readonlyPaths?: string[] };
}

export interface ContainerOptions {
  /** Replaces the image's ENTRYPOINT + CMD; default: the image's. */
  args?: string[];
  /** Default: the image's USER. 0 stands for a pod with runAsUser: 0. */
  uid?: number;
  /** Host directories: [host path, container path, 'ro'|'rw']. */
  binds?: [string, string, 'ro' | 'rw'][];
  /** Writable tmpfs mounts (the rootfs is read-only). */
  tmpfs?: string[];
  /** 'host' (hostNetwork: true), or the path of a network namespace. Default: a new one. */
  network?: string;
  /**
   * securityContext.privileged, as the gateway DaemonSet runs: every
   * capability, /proc/sys writable, /dev/net/tun for wireguard-go.
   */
  privileged?: boolean;
}

const ALL_CAPS = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW', 'CAP_NET_ADMIN', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_ADMIN', 'CAP_MKNOD', 'CAP_AUDIT_WRITE']

/** Outcome of a container that ran to its end. */
export interface Exit extends RunResult {
  code: number | null;
}

const runner = new ExecRunner();

export class UnpackedImage {
  readonly bundle: string;
  /** The OCI image config (Entrypoint, User, Labels...). */
  readonly imageConfig: { config: { Entrypoint?: string[]; Cmd?: string[]; User?: string; Labels?: Record<string, string> } };
  private readonly base: RuntimeSpec;
  private readonly work: string;

  private constructor(work: string, imageConfig: UnpackedImage['imageConfig']) {
    this.work = work;
    this.bundle = join(work, 'bundle');
    this.imageConfig = imageConfig;
    this.base = JSON.parse(readFileSync(join(this.bundle, 'config.json'), 'utf8')) as RuntimeSpec;
  }

  /** Unpacks `archive` (an oci-archive with reference `ref`); removed on teardown. */
  static async unpack(t: Teardown, archive: string, ref: string): Promise<UnpackedImage> {
    const work = mkdtempSync(join(tmpdir(), 'keg-image-'));
    t.teardown(() => rmSync(work, { recursive: true, force: true }));
    const layout = join(work, 'layout');
    mkdirSync(layout);
    await runner.run(['tar', '-xf', archive, '-C', layout], { timeoutMs: 120_000 });
    await runner.run(['umoci', 'unpack', '--image', `${layout}:${ref}`, join(work, 'bundle')], { timeoutMs: 120_000 });
    const blob = (digest: string): unknown => JSON.parse(readFileSync(join(layout, 'blobs', ...digest.split(':')), 'utf8'));
    const [entry] = (JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] }).manifests;
    if (!entry) throw new KegError('IMAGE_EMPTY', `${archive} holds no image`);
    const manifest = blob(entry.digest) as { config: { digest: string } };
    return new UnpackedImage(work, blob(manifest.config.digest) as UnpackedImage['imageConfig']);
  }

  /** The runtime spec a container with `opts` gets. */
  spec(opts: ContainerOptions): RuntimeSpec {
    const spec = structuredClone(this.base);
    spec.root = { path: join(this.bundle, 'rootfs'), readonly: true };
    spec.process.terminal = false;
    if (opts.args) spec.process.args = opts.args;
    if (opts.uid !== undefined) spec.process.user = { uid: opts.uid, gid: opts.uid };
    for (const [source, destination, mode] of opts.binds ?? []) {
      spec.mounts.push({ destination, type: 'bind', source, options: ['rbind', mode] });
    }
    for (const destination of opts.tmpfs ?? []) spec.mounts.push({ destination, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755'] });
    const others = spec.linux.namespaces.filter((n) => n.type !== 'network');
    if (opts.network === undefined) spec.linux.namespaces = [...others, { type: 'network' }];
    else spec.linux.namespaces = opts.network === 'host' ? others : [...others, { type: 'network', path: opts.network }];
    if (opts.privileged) {
      spec.process.capabilities = Object.fromEntries(['bounding', 'effective', 'inheritable', 'permitted', 'ambient'].map((set) => [set, ALL_CAPS]));
      spec.process.noNewPrivileges = false;
      spec.linux.maskedPaths = [];
      spec.linux.readonlyPaths = [];
      spec.linux.devices = [{ path: '/dev/net/tun', type: 'c', major: 10, minor: 200, fileMode: 0o666, uid: 0, gid: 0 }];
      spec.linux.resources = { ...spec.linux.resources, devices: [...(spec.linux.resources?.devices ?? []), { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }] };
    }
    return spec;
  }

  /** Runs a container to its end and returns its exit code and output. */
  async run(t: Teardown, opts: ContainerOptions = {}, timeoutMs = 60_000): Promise<Exit> {
    const c = this.start(t, opts);
    const timer = setTimeout(() => void c.kill('KILL'), timeoutMs);
    try {
      return await c.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Starts a container in the background; it is killed and deleted on teardown. */
  start(t: Teardown, opts: ContainerOptions = {}): Container {
    const id = `keg-img-${uniqueSuffix()}`;
    const dir = join(this.work, id);
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(this.spec(opts)));
    const state = join(this.work, 'runc');
    const child = spawn('runc', ['--root', state, 'run', '--bundle', dir, id], { stdio: ['ignore', 'pipe', 'pipe'] });
    const c = new Container(id, state, child);
    t.teardown(async () => {
      await c.kill('KILL');
      await c.exited;
      await runner.run(['runc', '--root', state, 'delete', '--force', id]).catch(() => {});
    });
    return c;
  }
}

export class Container {
  readonly id: string;
  readonly exited: Promise<Exit>;
  private readonly state: string;
  private done = false;

  constructor(id: string, state: string, child: ChildProcess) {
    this.id = id;
    this.state = state;
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    this.exited = new Promise((resolve) => {
      child.on('error', (err) => {
        this.done = true;
        resolve({ code: null, stdout, stderr: `${stderr}${String(err)}` });
      });
      child.on('close', (code) => {
        this.done = true;
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** Signals the container's init process, as the kubelet does on pod deletion. */
  async kill(signal: 'TERM' | 'KILL'): Promise<void> {
    if (this.done) return;
    await runner.run(['runc', '--root', this.state, 'kill', this.id, signal]).catch(() => {});
  }
}
