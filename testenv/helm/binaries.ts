import { join } from 'node:path';
import { KegError } from '../../lib/errors.ts';
import type { CommandRunner } from '../../lib/exec/runner.ts';
import type { Logger } from '../../lib/log.ts';
import { defaultCacheDir, findGo, goBuild, isExecutable, type GoModule } from '../kubeapi/binaries.ts';

/** The helm release the chart tests lint and render with. */
export const HELM_VERSION = '3.22.0';

export interface HelmResolveOptions {
  runner: CommandRunner;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  cacheDir?: string;
}

/**
 * helm, in this order: $HELM_BIN, the per-version cache, a build from Go
 * modules (first run only, a few minutes; cached like kube-apiserver).
 * A helm on PATH is not used: its version would make the tests depend on the
 * machine.
 */
export async function resolveHelm(opts: HelmResolveOptions): Promise<string> {
  const env = opts.env ?? process.env;
  if (env.HELM_BIN) {
    if (!isExecutable(env.HELM_BIN)) throw new KegError('BINARY_NOT_FOUND', `HELM_BIN=${env.HELM_BIN} is not an executable file`);
    return env.HELM_BIN;
  }
  const cached = join(opts.cacheDir ?? defaultCacheDir(env), `helm-v${HELM_VERSION}`, 'helm');
  if (isExecutable(cached)) return cached;
  opts.log.info('building helm from Go modules (first run only)', { version: HELM_VERSION });
  await goBuild(opts.runner, await findGo(opts.runner), helmModule(HELM_VERSION), cached);
  return cached;
}

/** A throwaway module that builds helm's cmd/helm, stamped with its version. */
export function helmModule(version: string): GoModule {
  const pkg = 'helm.sh/helm/v3/cmd/helm';
  return {
    pkg,
    ldflags: [`-X helm.sh/helm/v3/internal/version.version=v${version}`],
    files: {
      'go.mod': `module keghelmbuild\n\ngo 1.24\n\nrequire helm.sh/helm/v3 v${version}\n`,
      'tools.go': `//go:build tools\n\npackage tools\n\nimport _ "${pkg}"\n`,
    },
  };
}
