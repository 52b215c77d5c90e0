import { COMMON_FLAGS, defineCommand, flag, loggerFor, PROGRAM, shutdownSignal } from '../cli.ts';
import { KegError } from '../errors.ts';

/** Where the chart's tunnel hosts listen: in the node's runtime directory of the product, root only. */
export const DEFAULT_HOST_SOCKET = '/var/run/kube-egress-gateway/wireguard-host.sock';

export const WIREGUARD_HOST_FLAGS = {
  socket: flag.string('the unix socket the gateway daemon or node agent asks on (their --wireguard-host)', { arg: 'PATH', default: DEFAULT_HOST_SOCKET }),
  'log-level': COMMON_FLAGS['log-level'],
} as const;

/** Runs the host until SIGTERM, then ends its tunnels. */
async function run(socket: string, level: string): Promise<number> {
  if (!socket.startsWith('/')) throw new KegError('USAGE', `--socket=${socket}: want an absolute path`);
  const log = loggerFor('wireguard-host', level);
  const stop = shutdownSignal(log);
  const { WireguardHost } = await import('./host.ts');
  const host = new WireguardHost({ socket, log });
  await host.listen();
  log.info('tunnel host serving', { socket });
  if (!stop.aborted) await new Promise((resolve) => stop.addEventListener('abort', resolve, { once: true }));
  log.info('tunnel host stopping: ending its tunnels', { tunnels: host.running });
  await host.close();
  return 0;
}

export const wireguardHostCommand = defineCommand({
  name: 'wireguard-host',
  summary: 'hosts a node\'s wireguard-go processes so tunnels outlive daemon restarts (DaemonSet, OnDelete)',
  description: 'Starts wireguard-go on request of the gateway daemon or node agent of its node (their --wireguard-host)\nand keeps it running when they restart: a process dies with its container, and a rollout replaces\ntheirs. Only for nodes without kernel WireGuard. On SIGTERM it ends every tunnel it runs.\nExit codes: 0 after SIGTERM, 1 when it cannot start, 2 on a usage error.',
  examples: [`${PROGRAM} wireguard-host --socket ${DEFAULT_HOST_SOCKET}`],
  flags: WIREGUARD_HOST_FLAGS,
  run: (v) => run(v.socket, v['log-level']),
});
