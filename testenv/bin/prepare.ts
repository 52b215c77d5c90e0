// Run by `npm test` before the test runner: installs missing system packages,
// makes sure kube-apiserver, etcd, the CNI tools, helm and what the lab's real
// nodes run (containerd, kubelet, kube-controller-manager, kube-scheduler) are
// in the cache, and builds the container image (when its inputs changed), so
// no test pays a one-time build and times out.
import { buildImage } from '../../image/build.ts';
import { ExecRunner } from '../../lib/exec/runner.ts';
import { createLogger } from '../../lib/log.ts';
import { resolveCniBinaries } from '../cni/binaries.ts';
import { defaultCacheDir, resolveBinaries } from '../kubeapi/binaries.ts';
import { resolveHelm } from '../helm/binaries.ts';
import { NODE_COMMANDS, resolveNodeBinaries } from '../realnode/binaries.ts';
import { REQUIRED_COMMANDS, ensureSystemPackages } from '../system.ts';

const log = createLogger({ level: 'info' });
const runner = new ExecRunner();
const started = Date.now();
try {
  // One apt run for the tests' commands and the real nodes' (containerd and friends).
  await ensureSystemPackages(runner, log, undefined, { ...REQUIRED_COMMANDS, ...NODE_COMMANDS });
  const bins = await resolveBinaries({ runner, log });
  const cni = await resolveCniBinaries({ runner, log });
  const helm = await resolveHelm({ runner, log });
  const nodes = await resolveNodeBinaries({ runner, log });
  const image = await buildImage({ runner, log });
  log.info('test prerequisites ready', { ...bins, ...cni, helm, ...nodes, image: image.archive, cache: defaultCacheDir(), seconds: Math.round((Date.now() - started) / 1000) });
} catch (err) {
  log.error('cannot prepare the test prerequisites', { err });
  process.exitCode = 1;
}
