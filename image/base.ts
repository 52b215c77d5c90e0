// The local stand-in for the Dockerfile's public base (debian:bookworm-slim):
// nothing can be pulled here, so the base is bootstrapped from Debian packages
// with mmdebstrap, cached as a tarball and imported into buildah's storage.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandRunner } from '../lib/exec/runner.ts';
import type { Logger } from '../lib/log.ts';
import type { Buildah } from './buildah.ts';

export const SUITE = 'bookworm';
const MIRROR = process.env.KEG_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
const SECURITY_MIRROR = process.env.KEG_DEBIAN_SECURITY_MIRROR ?? 'http://deb.debian.org/debian-security';
/** A cached base older than this is bootstrapped again, to pick up Debian's security updates. */
const MAX_AGE_MS = 7 * 24 * 3600_000;
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Essential packages plus apt, like debian:bookworm-slim: the Dockerfile
 * installs its tools with apt-get. The merged-usr hook stands in for the
 * usrmerge package, which would drag in Perl; the path excludes are the slim
 * images' (no docs but copyrights, no man pages, no locales).
 */
export function mmdebstrapArgs(out: string): string[] {
  const drop = ['/usr/share/man/*', '/usr/share/doc/*', '/usr/share/locale/*', '/usr/share/info/*'];
  return [
    'mmdebstrap', '--variant=apt', '--mode=root', '--format=tar', '--skip=output/dev',
    '--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr',
    ...drop.map((p) => `--dpkgopt=path-exclude=${p}`), '--dpkgopt=path-include=/usr/share/doc/*/copyright',
    SUITE, out,
    `deb ${MIRROR} ${SUITE} main`, `deb ${MIRROR} ${SUITE}-updates main`, `deb ${SECURITY_MIRROR} ${SUITE}-security main`,
  ];
}

export interface BaseOptions {
  runner: CommandRunner;
  buildah: Buildah;
  log: Logger;
  /** Where the tarball is kept. */
  dir: string;
  now?: number;
}

/** Returns the local reference of the base image, bootstrapping and importing it when needed. */
export async function ensureBase(opts: BaseOptions): Promise<string> {
  const key = createHash('sha256').update(mmdebstrapArgs('').join('\n')).digest('hex').slice(0, 12);
  const tarball = join(opts.dir, `debian-${SUITE}-${key}.tar`);
  const now = opts.now ?? Date.now();
  if (!existsSync(tarball) || now - statSync(tarball).mtimeMs > MAX_AGE_MS) {
    opts.log.info('bootstrapping the image base from Debian packages (about a minute)', { suite: SUITE, tarball });
    mkdirSync(opts.dir, { recursive: true });
    const tmp = `${tarball}.tmp-${process.pid}`;
    try {
      await opts.runner.run(mmdebstrapArgs(tmp), { timeoutMs: 900_000, input: '' });
      renameSync(tmp, tarball);
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  // The tag names the tarball's age, so a refreshed tarball is imported afresh.
  const ref = `localhost/keg-base:${SUITE}-${key}-${Math.floor(statSync(tarball).mtimeMs / 1000)}`;
  if (await opts.buildah.hasImage(ref)) return ref;
  opts.log.info('importing the image base', { ref });
  const ctr = (await opts.buildah.run(['from', '--pull-never', 'scratch'])).stdout.trim();
  try {
    await opts.buildah.run(['add', ctr, tarball, '/']);
    await opts.buildah.run(['config', '--env', PATH_ENV, '--cmd', 'bash', ctr]);
    await opts.buildah.run(['commit', '--quiet', '--rm', ctr, ref]);
  } catch (err) {
    await opts.buildah.run(['rm', ctr]).catch(() => {});
    throw err;
  }
  await dropOlderBases(opts, ref);
  return ref;
}

/** Untags the bases this one replaces; the build's prune then frees their layers. */
async function dropOlderBases(opts: BaseOptions, keep: string): Promise<void> {
  const names = (await opts.buildah.run(['images', '--format', '{{.Name}}:{{.Tag}}'])).stdout.split('\n');
  for (const name of names.filter((n) => n.startsWith('localhost/keg-base:') && n !== keep)) {
    await opts.buildah.run(['rmi', name]).catch((err: unknown) => opts.log.warn('cannot remove an older image base', { name, err }));
  }
}
