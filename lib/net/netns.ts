import { existsSync } from 'node:fs';
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
