import { chmodSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { KegError } from '../lib/errors.ts';

/** tcp:HOST:PORT or unix:PATH. */
export type Endpoint = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export function parseEndpoint(value: string): Endpoint {
  const unix = /^unix:(\/.+)$/.exec(value);
  if (unix) return { kind: 'unix', path: unix[1] as string };
  const tcp = /^tcp:([\d.]+):(\d{1,5})$/.exec(value);
  if (tcp) return { kind: 'tcp', host: tcp[1] as string, port: Number(tcp[2]) };
  throw new KegError('USAGE', `bad endpoint ${JSON.stringify(value)}: want tcp:HOST:PORT or unix:/PATH`);
}

function connect(to: Endpoint): Socket {
  return to.kind === 'unix' ? createConnection(to.path) : createConnection(to.port, to.host);
}

/**
 * Forwards every connection accepted on `listen` to `target`, byte for byte.
 *
 * Why: a socket belongs to the network namespace it was created in, but a
 * unix socket's path is reachable from every namespace. A portal inside a lab
 * node listening on its 127.0.0.1 and forwarding to a unix socket, and one on
 * the host forwarding that socket to the host's 127.0.0.1, let the node reach
 * a service on the host's loopback (the test apiserver) without giving the
 * host namespace any new address. Unix sockets are created owner-only.
 */
export interface Portal {
  /** Stops listening and cuts open connections (long watches would otherwise keep it alive). */
  close(): Promise<void>;
}

export function startPortal(listen: Endpoint, target: Endpoint): Promise<Portal> {
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target);
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      open.add(s);
      s.on('error', close).on('close', () => open.delete(s));
    }
    client.on('close', close);
    upstream.on('close', close);
  });
  const portal: Portal = {
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      for (const s of open) s.destroy();
    }),
  };
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    if (listen.kind === 'unix') {
      rmSync(listen.path, { force: true });
      server.listen(listen.path, () => {
        chmodSync(listen.path, 0o600);
        resolve(portal);
      });
    } else {
      server.listen(listen.port, listen.host, () => resolve(portal));
    }
  });
}
