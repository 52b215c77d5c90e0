import { join } from 'node:path';
import { KegError } from '../../lib/errors.ts';
import type { CommandRunner } from '../../lib/exec/runner.ts';
import type { Logger } from '../../lib/log.ts';
import { CNI_PLUGINS_VERSION, cniModule } from '../cni/binaries.ts';
import { defaultCacheDir, findGo, goBuild, isExecutable, kubernetesGoMod, type GoModule } from '../kubeapi/binaries.ts';
import { goModuleForKube, type KubeCommand } from '../kubeapi/gomodule.ts';
import { KUBE_VERSION } from '../kubeapi/versions.ts';
import { ensureSystemPackages, onPath } from '../system.ts';

/**
 * What a real node needs beyond the stand-in lab: the node and control-plane
 * binaries built from Go modules like kube-apiserver, the CNI plugins
 * containerd calls, and containerd + runc from Debian.
 */
export interface NodeBinaries {
  kubelet: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  /** bridge, host-local, portmap and loopback (containerd 1.6 always runs loopback). */
  cniPluginDir: string;
  /** A static do-nothing process for the sandbox (pause) image. */
  pause: string;
  containerd: string;
  ctr: string;
  /** busybox-static, the test image's only binary. */
  busybox: string;
}

/** Commands a real node runs, and the Debian package of each. */
export const NODE_COMMANDS: Readonly<Record<string, string>> = {
  containerd: 'containerd',
  ctr: 'containerd',
  runc: 'runc',
  busybox: 'busybox-static',
  iptables: 'iptables',
  unshare: 'util-linux',
};

const KUBE_COMMANDS = { kubelet: 'kubelet', kubeControllerManager: 'kube-controller-manager', kubeScheduler: 'kube-scheduler' } as const;
const NODE_CNI_PLUGINS = { bridge: 'plugins/main/bridge', 'host-local': 'plugins/ipam/host-local', portmap: 'plugins/meta/portmap', loopback: 'plugins/main/loopback' } as const;

export interface NodeResolveOptions {
  runner: CommandRunner;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  cacheDir?: string;
}

/** Finds or builds everything, each build cached per version; the first run costs a few minutes. */
export async function resolveNodeBinaries(opts: NodeResolveOptions): Promise<NodeBinaries> {
  await ensureSystemPackages(opts.runner, opts.log, undefined, NODE_COMMANDS);
  const cache = opts.cacheDir ?? defaultCacheDir(opts.env);
  const kube = {} as Record<keyof typeof KUBE_COMMANDS, string>;
  let gomod: string | undefined;
  for (const [key, command] of Object.entries(KUBE_COMMANDS) as [keyof typeof KUBE_COMMANDS, KubeCommand][]) {
    const dest = join(cache, `${command}-v${KUBE_VERSION}`, command);
    kube[key] = dest;
    if (isExecutable(dest)) continue;
    opts.log.info(`building ${command} from Go modules (first run only)`, { version: KUBE_VERSION });
    const go = await findGo(opts.runner);
    gomod ??= await kubernetesGoMod(opts, go);
    await goBuild(opts.runner, go, goModuleForKube(command, KUBE_VERSION, gomod), dest);
  }
  const cniPluginDir = join(cache, `cni-plugins-v${CNI_PLUGINS_VERSION}`);
  for (const [name, sub] of Object.entries(NODE_CNI_PLUGINS)) {
    const dest = join(cniPluginDir, name);
    if (isExecutable(dest)) continue;
    opts.log.info('building a reference CNI plugin from Go modules (first run only)', { plugin: name, version: CNI_PLUGINS_VERSION });
    await goBuild(opts.runner, await findGo(opts.runner), cniModule('github.com/containernetworking/plugins', CNI_PLUGINS_VERSION, sub), dest);
  }
  const pause = join(cache, 'pause-v1', 'pause');
  if (!isExecutable(pause)) await goBuild(opts.runner, await findGo(opts.runner), PAUSE_MODULE, pause);
  return { ...kube, cniPluginDir, pause, containerd: which('containerd'), ctr: which('ctr'), busybox: which('busybox') };
}

/**
 * The sandbox process: it only holds the pod's namespaces and exits on
 * SIGINT/SIGTERM. Pods do not share a PID namespace here, so it has no
 * children to reap. Go rather than C keeps the toolchain to one.
 */
const PAUSE_MODULE: GoModule = {
  pkg: '.',
  files: {
    'go.mod': 'module kegpause\n\ngo 1.24\n',
    'main.go': 'package main\n\nimport (\n\t"os"\n\t"os/signal"\n\t"syscall"\n)\n\nfunc main() {\n\tc := make(chan os.Signal, 1)\n\tsignal.Notify(c, syscall.SIGINT, syscall.SIGTERM)\n\t<-c\n}\n',
  },
};

function which(command: string): string {
  const dir = (process.env.PATH ?? '').split(':').find((d) => onPath(command, d));
  if (!dir) throw new KegError('BINARY_NOT_FOUND', `${command} is not on PATH after installing its package`);
  return join(dir, command);
}
