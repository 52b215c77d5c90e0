// Makes sure the test binaries (kube-apiserver, etcd) are in the cache before
// the test runner starts, so no test pays the one-time build and times out.
import { ExecRunner } from '../../lib/exec/runner.ts';
import { createLogger } from '../../lib/log.ts';
import { defaultCacheDir, resolveBinaries } from '../kubeapi/binaries.ts';

const log = createLogger({ level: 'info' });
const started = Date.now();
try {
  const bins = await resolveBinaries({ runner: new ExecRunner(), log });
  log.info('test binaries ready', { ...bins, cache: defaultCacheDir(), seconds: Math.round((Date.now() - started) / 1000) });
} catch (err) {
  log.error('cannot provide test binaries', { err });
  process.exitCode = 1;
}
