import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { KegError } from '../../lib/errors.ts';
import type { CommandRunner } from '../../lib/exec/runner.ts';
import type { Logger } from '../../lib/log.ts';
import { ETCD_MIN_VERSION, ETCD_VERSION, KUBE_VERSION } from './versions.ts';
import { goModuleForEtcd, goModuleForKube } from './gomodule.ts';

export interface Binaries {
  kubeApiserver: string;
  etcd: string;
}

export interface ResolveOptions {
  runner: CommandRunner;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  /** Root of the per-version cache. Default $KEG_CACHE_DIR or ~/.cache/kube-egress-gateway. */
  cacheDir?: string;
  /** Base URL of Kubernetes release binaries; tests point it at loopback. */
  downloadBase?: string;
  fetchImpl?: typeof fetch;
}

const DEFAULT_DOWNLOAD_BASE = 'https://dl.k8s.io/release';
const DOWNLOAD_TIMEOUT_MS = 120_000;
const PROBE_TIMEOUT_MS = 3_000;

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.KEG_CACHE_DIR ?? join(homedir(), '.cache', 'kube-egress-gateway');
}

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Writes via a temp name and rename, so a crash never leaves a half binary in the cache. */
function installAtomically(dest: string, data: Uint8Array): void {
  mkdirSync(join(dest, '..'), { recursive: true });
  const tmp = `${dest}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode: 0o755 });
  renameSync(tmp, dest);
}

/**
 * Finds kube-apiserver and etcd, in this order: environment variables
 * (KUBE_APISERVER_BIN, ETCD_BIN), the per-version cache, a download where the
 * network allows (kube-apiserver only: etcd releases ship as tarballs, and
 * Debian's etcd-server is tried first), and finally a build from Go modules.
 */
export async function resolveBinaries(opts: ResolveOptions): Promise<Binaries> {
  return {
    kubeApiserver: await resolveKubeApiserver(opts),
    etcd: await resolveEtcd(opts),
  };
}

async function resolveKubeApiserver(opts: ResolveOptions): Promise<string> {
  const env = opts.env ?? process.env;
  const fromEnv = env.KUBE_APISERVER_BIN;
  if (fromEnv) return checkedEnvBinary('KUBE_APISERVER_BIN', fromEnv);
  const cached = join(opts.cacheDir ?? defaultCacheDir(env), `kube-apiserver-v${KUBE_VERSION}`, 'kube-apiserver');
  if (isExecutable(cached)) return cached;
  if (env.KEG_KUBE_DOWNLOAD !== 'never') {
    const base = opts.downloadBase ?? DEFAULT_DOWNLOAD_BASE;
    if (await tryDownload(`${base}/v${KUBE_VERSION}/bin/linux/amd64/kube-apiserver`, cached, opts)) return cached;
  }
  opts.log.info('building kube-apiserver from Go modules (first run only; several minutes)', { version: KUBE_VERSION });
  const go = await findGo(opts.runner);
  await goBuild(opts.runner, go, goModuleForKube('kube-apiserver', KUBE_VERSION, await kubernetesGoMod(opts, go)), cached);
  return cached;
}

async function resolveEtcd(opts: ResolveOptions): Promise<string> {
  const env = opts.env ?? process.env;
  const fromEnv = env.ETCD_BIN;
  if (fromEnv) return checkedEnvBinary('ETCD_BIN', fromEnv);
  const cached = join(opts.cacheDir ?? defaultCacheDir(env), `etcd-v${ETCD_VERSION}`, 'etcd');
  if (isExecutable(cached)) return cached;
  const system = await systemEtcd(opts.runner);
  if (system) return system;
  opts.log.info('building etcd from Go modules (first run only)', { version: ETCD_VERSION });
  await goBuild(opts.runner, await findGo(opts.runner), goModuleForEtcd(ETCD_VERSION), cached);
  return cached;
}

function checkedEnvBinary(variable: string, path: string): string {
  if (!isExecutable(path)) throw new KegError('BINARY_NOT_FOUND', `${variable}=${path} is not an executable file`);
  return path;
}

/** Debian's etcd-server when it is new enough for this Kubernetes release. */
async function systemEtcd(runner: CommandRunner): Promise<string | undefined> {
  for (const path of ['/usr/bin/etcd', '/usr/local/bin/etcd']) {
    if (!isExecutable(path)) continue;
    const { stdout } = await runner.run([path, '--version']).catch(() => ({ stdout: '' }));
    const version = /etcd Version: (\d+\.\d+\.\d+)/.exec(stdout)?.[1];
    if (version && compareVersions(version, ETCD_MIN_VERSION) >= 0) return path;
  }
  return undefined;
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Downloads a release binary and checks it against the published sha256.
 * Returns false (after logging why) when the network does not allow it, so the
 * caller falls back to building.
 */
export async function tryDownload(url: string, dest: string, opts: ResolveOptions): Promise<boolean> {
  const fetchImpl = opts.fetchImpl ?? fetch;
  try {
    const sumRes = await fetchImpl(`${url}.sha256`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    if (!sumRes.ok) throw new Error(`checksum: HTTP ${sumRes.status}`);
    const want = (await sumRes.text()).trim().split(/\s+/)[0];
    const res = await fetchImpl(url, { signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const data = new Uint8Array(await res.arrayBuffer());
    const got = createHash('sha256').update(data).digest('hex');
    if (got !== want) throw new Error(`checksum mismatch: got ${got}, want ${want}`);
    installAtomically(dest, data);
    return true;
  } catch (err) {
    opts.log.info('download not possible, falling back', { url, err });
    return false;
  }
}

/** The go.mod of k8s.io/kubernetes, which lists the staging modules to replace. */
export async function kubernetesGoMod(opts: Pick<ResolveOptions, 'runner'>, go: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'keg-kmod-'));
  try {
    writeFileSync(join(dir, 'go.mod'), 'module probe\n\ngo 1.24\n');
    const { stdout } = await opts.runner.run(
      [go, 'mod', 'download', '-json', `k8s.io/kubernetes@v${KUBE_VERSION}`],
      { timeoutMs: 600_000, env: { GOFLAGS: '-modcacherw' }, cwd: dir },
    );
    const info = JSON.parse(stdout) as { GoMod?: string };
    if (!info.GoMod) throw new KegError('GO_BUILD_FAILED', `go mod download gave no go.mod for k8s.io/kubernetes@v${KUBE_VERSION}`);
    const { stdout: gomod } = await opts.runner.run(['cat', info.GoMod]);
    return gomod;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface GoModule {
  /** The throwaway module's files, by name. */
  files: Record<string, string>;
  /** The package to build. */
  pkg: string;
  /** Extra -ldflags, e.g. -X version stamps. */
  ldflags?: string[];
}

/** `go` from PATH, else the toolchain's usual home (not always on a CI PATH). */
export async function findGo(runner: CommandRunner): Promise<string> {
  if (await runner.run(['go', 'version']).then(() => true, () => false)) return 'go';
  if (existsSync('/usr/local/go/bin/go')) return '/usr/local/go/bin/go';
  throw new KegError('BINARY_NOT_FOUND', 'no Go toolchain to build the test binaries; install Go >= 1.26 or set KUBE_APISERVER_BIN and ETCD_BIN');
}

export async function goBuild(runner: CommandRunner, go: string, mod: GoModule, dest: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'keg-gobuild-'));
  try {
    for (const [name, content] of Object.entries(mod.files)) writeFileSync(join(dir, name), content);
    const env = { CGO_ENABLED: '0', GOFLAGS: '-mod=mod -modcacherw' };
    const long = { cwd: dir, env, timeoutMs: 3_600_000 };
    await runner.run([go, 'mod', 'tidy'], long);
    const out = `${dest}.tmp-${process.pid}`;
    mkdirSync(join(dest, '..'), { recursive: true });
    await runner.run([go, 'build', '-trimpath', `-ldflags=-s -w ${(mod.ldflags ?? []).join(' ')}`, '-o', out, mod.pkg], long);
    renameSync(out, dest);
  } catch (err) {
    throw new KegError('GO_BUILD_FAILED', `building ${mod.pkg} failed`, { cause: err });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
