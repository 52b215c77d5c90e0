import { join } from 'node:path';
import type { CommandRunner } from '../../lib/exec/runner.ts';
import type { Logger } from '../../lib/log.ts';
import { defaultCacheDir, findGo, goBuild, isExecutable, type GoModule } from '../kubeapi/binaries.ts';

/**
 * libcni (for cnitool) and the reference plugins. cni v1.3 and plugins v1.9
 * speak CNI spec 1.1 (STATUS, GC); Debian bookworm's containernetworking-plugins
 * 1.1.1 stops at 1.0.0, so it is used only when it reports 1.1.0 support.
 */
export const CNI_VERSION = '1.3.0';
export const CNI_PLUGINS_VERSION = '1.9.0';
/** The spec version the test conflists declare. */
export const SPEC_VERSION = '1.1.0';

export interface CniBinaries {
  cnitool: string;
  /** A directory holding `bridge`, `host-local` and `portmap`. */
  pluginDir: string;
}

export interface CniResolveOptions {
  runner: CommandRunner;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  cacheDir?: string;
  /** Where a distribution installs the reference plugins. */
  systemPluginDir?: string;
}

/** The reference plugins the tests chain, by their main package in containernetworking/plugins. */
const PLUGINS = { bridge: 'plugins/main/bridge', 'host-local': 'plugins/ipam/host-local', portmap: 'plugins/meta/portmap' } as const;

/** Finds or builds cnitool and the reference plugins, caching builds per version like kube-apiserver. */
export async function resolveCniBinaries(opts: CniResolveOptions): Promise<CniBinaries> {
  const cache = opts.cacheDir ?? defaultCacheDir(opts.env);
  const cnitool = join(cache, `cni-v${CNI_VERSION}`, 'cnitool');
  if (!isExecutable(cnitool)) {
    opts.log.info('building cnitool from Go modules (first run only)', { version: CNI_VERSION });
    await goBuild(opts.runner, await findGo(opts.runner), cniModule('github.com/containernetworking/cni', CNI_VERSION, 'cnitool'), cnitool);
  }
  const system = opts.systemPluginDir ?? '/usr/lib/cni';
  const names = Object.keys(PLUGINS) as (keyof typeof PLUGINS)[];
  if (await supportsSpec(opts.runner, join(system, 'bridge')) && names.every((n) => isExecutable(join(system, n)))) return { cnitool, pluginDir: system };
  const pluginDir = join(cache, `cni-plugins-v${CNI_PLUGINS_VERSION}`);
  for (const name of names) {
    const dest = join(pluginDir, name);
    if (isExecutable(dest)) continue;
    opts.log.info('building a reference CNI plugin from Go modules (first run only)', { plugin: name, version: CNI_PLUGINS_VERSION });
    await goBuild(opts.runner, await findGo(opts.runner), cniModule('github.com/containernetworking/plugins', CNI_PLUGINS_VERSION, PLUGINS[name]), dest);
  }
  return { cnitool, pluginDir };
}

/** A throwaway module whose only job is to build one main package of `module`. */
export function cniModule(module: string, version: string, sub: string): GoModule {
  const pkg = `${module}/${sub}`;
  return {
    pkg,
    files: {
      'go.mod': `module kegcnibuild\n\ngo 1.24\n\nrequire ${module} v${version}\n`,
      'tools.go': `//go:build tools\n\npackage tools\n\nimport _ "${pkg}"\n`,
    },
  };
}

/** Whether a plugin binary lists SPEC_VERSION among its supported versions (CNI VERSION verb). */
export async function supportsSpec(runner: CommandRunner, plugin: string): Promise<boolean> {
  if (!isExecutable(plugin)) return false;
  try {
    const { stdout } = await runner.run([plugin], { env: { CNI_COMMAND: 'VERSION' }, input: `{"cniVersion":"${SPEC_VERSION}"}` });
    const versions = (JSON.parse(stdout) as { supportedVersions?: unknown }).supportedVersions;
    return Array.isArray(versions) && versions.includes(SPEC_VERSION);
  } catch {
    return false;
  }
}
