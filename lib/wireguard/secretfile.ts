import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Where secret scratch files go: /dev/shm is tmpfs, so a key written there
 * never reaches a disk; elsewhere fall back to the temp directory.
 */
export function defaultSecretDir(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
}

/**
 * Runs `fn` with the path of a file that holds `content`, inside a fresh
 * directory only we can enter, and removes both afterwards, also on failure.
 *
 * Why a file at all: `wg` reads keys only from a path, and `/dev/stdin` does
 * not work under Node, whose child stdin is a socketpair: open(2) on
 * /proc/self/fd/0 of a socket fails with ENXIO. The alternatives are a shell
 * with process substitution (ruled out) or argv (visible to every local user
 * in /proc). A 0600 file in a 0700 directory on tmpfs exposes the key to root
 * only, for the few milliseconds `wg` needs.
 */
export async function withSecretFile<T>(content: string, fn: (path: string) => Promise<T>, dir = defaultSecretDir()): Promise<T> {
  const scratch = await mkdtemp(join(dir, 'keg-wg-'));
  try {
    const path = join(scratch, 'key');
    await writeFile(path, content, { mode: 0o600, flag: 'wx' });
    return await fn(path);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
