import { existsSync, statfsSync } from 'node:fs';
import type { CommandRunner } from '../exec/runner.ts';

/** Where `ip netns` keeps named namespaces; `ip -n` only accepts names from here. */
export const NETNS_DIR = '/var/run/netns';

export function netnsPath(name: string): string {
  return `${NETNS_DIR}/${name}`;
}

/** Creates the named namespace unless it exists, brings its loopback up, and returns its path. */
export async function ensureNetns(runner: CommandRunner, name: string): Promise<string> {
  const path = netnsPath(name);
  if (!existsSync(path)) await runner.run(['ip', 'netns', 'add', name]);
  await runner.run(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
  return path;
}

/** Deletes the named namespace; a namespace that is already gone is success. */
export async function deleteNetns(runner: CommandRunner, name: string): Promise<void> {
  if (!existsSync(netnsPath(name))) return;
  await runner.run(['ip', 'netns', 'delete', name]);
}

/** statfs(2) magic of the namespace filesystem: what a live namespace path is a mount of. */
const NSFS_MAGIC = 0x6e736673;

/**
 * What a runtime's namespace path is, as this process sees it: `live` (a
 * namespace), `gone` (no such path: the sandbox was torn down), or
 * `invisible` (a plain file: the runtime's bind mount is in a mount
 * namespace this process does not see, e.g. a DaemonSet without the netns
 * directory mounted with HostToContainer propagation). `invisible` must never
 * be taken for `gone`: the pod is probably running.
 */
export function netnsState(path: string): 'live' | 'gone' | 'invisible' {
  try {
    return Number(statfsSync(path).type) === NSFS_MAGIC ? 'live' : 'invisible';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw err;
  }
}
