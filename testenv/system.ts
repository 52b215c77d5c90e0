import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import type { CommandRunner } from '../lib/exec/runner.ts';
import type { Logger } from '../lib/log.ts';

/** Commands the tests and the image build (image/) run, and the Debian package that provides each. */
export const REQUIRED_COMMANDS: Readonly<Record<string, string>> = {
  ip: 'iproute2',
  nft: 'nftables',
  wg: 'wireguard-tools',
  'wireguard-go': 'wireguard-go',
  nsenter: 'util-linux',
  ping: 'iputils-ping',
  // The gateway's removal of the Go data path, and its test, use both backends.
  'iptables-legacy-save': 'iptables',
  'iptables-nft-save': 'iptables',
  buildah: 'buildah',
  mmdebstrap: 'mmdebstrap',
  strip: 'binutils',
  umoci: 'umoci',
  runc: 'runc',
};

export function onPath(command: string, path = process.env.PATH ?? ''): boolean {
  return path.split(':').some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The packages to install for the commands that are missing. */
export function missingPackages(has: (command: string) => boolean = onPath, commands = REQUIRED_COMMANDS): string[] {
  const pkgs = Object.entries(commands).filter(([cmd]) => !has(cmd)).map(([, pkg]) => pkg);
  return [...new Set(pkgs)].sort();
}

/**
 * Installs missing system packages with apt. No recommends: wireguard-tools
 * would otherwise pull in a kernel image to get the WireGuard module, which
 * these machines cannot load anyway (wireguard-go stands in for it).
 */
export async function ensureSystemPackages(runner: CommandRunner, log: Logger, has?: (command: string) => boolean, commands = REQUIRED_COMMANDS): Promise<void> {
  const pkgs = missingPackages(has, commands);
  if (pkgs.length === 0) return;
  log.info('installing system packages', { packages: pkgs });
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  await runner.run(['apt-get', 'update', '-qq'], { env, timeoutMs: 600_000 });
  await runner.run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...pkgs], { env, timeoutMs: 1_200_000 });
}
