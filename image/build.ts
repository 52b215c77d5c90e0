// `npm run image`: builds the top-level Dockerfile with buildah (no Docker
// engine, no registry) into dist/kube-egress-gateway-<version>.oci.tar.
// The base comes from image/base.ts; the Node runtime, CLI bundle and CNI
// executable are staged on the host (image/stage.ts) and taken with
// ARTIFACTS=prebuilt, so the build itself runs no npm. An archive whose
// inputs are unchanged is kept as is.
// Usage: node image/build.ts [--force]
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { CommandRunner } from '../lib/exec/runner.ts';
import { ExecRunner } from '../lib/exec/runner.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import { VERSION } from '../lib/version.ts';
import { defaultCacheDir } from '../testenv/kubeapi/binaries.ts';
import { ensureBase } from './base.ts';
import { Buildah } from './buildah.ts';
import { stageArtifacts } from './stage.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const IMAGE_NAME = 'kube-egress-gateway';
/** The reference inside the archive (org.opencontainers.image.ref.name). */
export const IMAGE_REF = `${IMAGE_NAME}:${VERSION}`;
const ARCHIVE_NAME = `${IMAGE_NAME}-${VERSION}.oci.tar`;
/** What the image is built from: any change rebuilds it. */
const INPUTS = ['Dockerfile', '.dockerignore', 'package.json', 'package-lock.json', 'cmd', 'lib', 'operator', 'gateway', 'cni', 'image'];

export interface BuildOptions {
  runner?: CommandRunner;
  log?: Logger;
  cacheDir?: string;
  force?: boolean;
  /** Where the archive goes. Default: dist/. */
  outDir?: string;
  /** Writes the files the Dockerfile takes (ARTIFACTS=prebuilt) into the given dir. Default: stageArtifacts. */
  stage?: (rootfs: string) => Promise<unknown>;
}

export interface BuildResult {
  archive: string;
  /** False when the archive was already up to date. */
  built: boolean;
  seconds: number;
  /** Seconds per phase: base (bootstrap and import), stage, build (buildah bud), archive (push). */
  phases: Record<string, number>;
}

export async function buildImage(opts: BuildOptions = {}): Promise<BuildResult> {
  const runner = opts.runner ?? new ExecRunner();
  const log = opts.log ?? createLogger();
  const archive = join(opts.outDir ?? join(ROOT, 'dist'), ARCHIVE_NAME);
  const started = Date.now();
  const stamp = `${archive}.inputs`;
  const fingerprint = inputsFingerprint();
  if (!opts.force && existsSync(archive) && existsSync(stamp) && readFileSync(stamp, 'utf8') === fingerprint) {
    return { archive, built: false, seconds: 0, phases: {} };
  }
  const phases: Record<string, number> = {};
  let mark = started;
  const lap = (phase: string): void => {
    phases[phase] = Math.round((Date.now() - mark) / 100) / 10;
    mark = Date.now();
  };
  const imageCache = join(opts.cacheDir ?? defaultCacheDir(), 'image');
  const buildah = new Buildah(runner, imageCache);
  const base = await ensureBase({ runner, buildah, log, dir: imageCache });
  lap('base');
  log.info('staging the image artifacts');
  await (opts.stage ?? ((rootfs: string) => stageArtifacts(rootfs, runner)))(join(ROOT, 'dist/image/rootfs'));
  lap('stage');
  log.info('building the image', { base, ref: IMAGE_REF });
  const local = `localhost/${IMAGE_REF}`;
  await buildah.run([
    'bud', '--layers', '--isolation', 'chroot', '--pull-never', '--quiet',
    '--build-arg', `BASE_IMAGE=${base}`, '--build-arg', `BUILDER_IMAGE=${base}`, '--build-arg', 'ARTIFACTS=prebuilt',
    '--build-arg', `VERSION=${VERSION}`, '--build-arg', `REVISION=${await revision(runner)}`,
    '--tag', local, '--file', join(ROOT, 'Dockerfile'), ROOT,
  ], { timeoutMs: 1_200_000 });
  lap('build');
  await pushArchive(buildah, local, archive);
  lap('archive');
  writeFileSync(stamp, fingerprint);
  // buildah 1.28 leaves the working container of a stage that is only copied
  // from; the storage is ours alone, so clear it, then older builds' layers.
  await buildah.run(['rm', '--all']).catch((err: unknown) => log.warn('cannot remove build containers', { err }));
  await buildah.run(['rmi', '--prune']).catch((err: unknown) => log.warn('cannot prune old image layers', { err }));
  return { archive, built: true, seconds: Math.round((Date.now() - started) / 1000), phases };
}

/** Writes the archive under a temp name and renames it: never a half archive. */
async function pushArchive(buildah: Buildah, local: string, archive: string): Promise<void> {
  mkdirSync(dirname(archive), { recursive: true });
  const tmp = `${archive}.tmp-${process.pid}`;
  try {
    await buildah.run(['push', '--quiet', local, `oci-archive:${tmp}:${IMAGE_REF}`]);
    renameSync(tmp, archive);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** The commit the image is built from, marked `-dirty` with local changes. */
async function revision(runner: CommandRunner): Promise<string> {
  try {
    const rev = (await runner.run(['git', '-C', ROOT, 'rev-parse', 'HEAD'])).stdout.trim();
    const dirty = (await runner.run(['git', '-C', ROOT, 'status', '--porcelain'])).stdout.trim() !== '';
    return dirty ? `${rev}-dirty` : rev;
  } catch {
    return 'unknown';
  }
}

/**
 * A hash of the inputs' paths and contents (tests and test helpers left out,
 * as .dockerignore leaves them out), plus the Node that stages the runtime.
 */
export function inputsFingerprint(root: string = ROOT): string {
  const hash = createHash('sha256').update(process.version);
  const walk = (path: string): void => {
    if (!existsSync(path)) return;
    if (statSync(path).isDirectory()) {
      if (path.endsWith('/testing')) return;
      for (const name of readdirSync(path).sort()) walk(join(path, name));
    } else if (!path.endsWith('.test.ts')) {
      hash.update(relative(root, path)).update('\0').update(readFileSync(path)).update('\0');
    }
  };
  for (const input of INPUTS) walk(join(root, input));
  return hash.digest('hex');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { force: { type: 'boolean', default: false } } });
  const log = createLogger({ level: 'info' });
  try {
    const result = await buildImage({ log, force: values.force });
    log.info(result.built ? 'image built' : 'image up to date', { archive: result.archive, seconds: result.seconds, phases: result.phases, bytes: statSync(result.archive).size });
  } catch (err) {
    log.error('cannot build the image', { err });
    process.exitCode = 1;
  }
}
