import { randomBytes } from 'node:crypto';
import { ExecRunner } from '../lib/exec/runner.ts';
import { deleteNetns, ensureNetns } from '../lib/net/netns.ts';

/** The part of a tap Test this fixture needs, so any test framework object fits. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

/** A short unique suffix for names of links and namespaces a test creates. */
export function uniqueSuffix(): string {
  return randomBytes(3).toString('hex');
}

/**
 * Creates a network namespace that exists only for the test: named
 * `keg-<prefix>-<random>` and deleted in teardown, also when the test fails.
 * Deleting a namespace removes every link inside it.
 */
export async function tempNetns(t: Teardown, prefix: string): Promise<{ name: string; path: string }> {
  const runner = new ExecRunner();
  const name = `keg-${prefix}-${uniqueSuffix()}`;
  t.teardown(() => deleteNetns(runner, name));
  const path = await ensureNetns(runner, name);
  return { name, path };
}
