import { fileURLToPath } from 'node:url';
import { ExecRunner } from '../../lib/exec/runner.ts';
import { createLogger } from '../../lib/log.ts';
import { resolveBinaries, type Binaries } from './binaries.ts';
import { TestKube } from './server.ts';
import type { Teardown } from '../netns.ts';

export { TestKube } from './server.ts';

/** The chart's crds/ (the one copy of the CRDs): tests apply what users install. */
export const CRD_DIR = fileURLToPath(new URL('../../charts/kube-egress-gateway/crds', import.meta.url));

let binaries: Promise<Binaries> | undefined;

/** Resolves the binaries once per process; `npm test` builds them beforehand. */
export function testBinaries(): Promise<Binaries> {
  binaries ??= resolveBinaries({ runner: new ExecRunner(), log: createLogger({ level: 'warn' }) });
  return binaries;
}

/** Starts a real apiserver with the project's CRDs for one test, stopped in teardown. */
export async function startTestKube(t: Teardown, opts: { crds?: boolean } = {}): Promise<TestKube> {
  const kube = await TestKube.start({ binaries: await testBinaries(), crdDir: opts.crds === false ? undefined : CRD_DIR });
  t.teardown(() => kube.stop());
  return kube;
}
