import { createServer, type Server } from 'node:net';

/**
 * `n` distinct TCP ports on 127.0.0.1 that were free a moment ago. All probe
 * listeners stay open until every port is chosen: closing each before asking
 * for the next lets the kernel hand out the same port twice.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const srv = createServer();
      servers.push(srv);
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(0, '127.0.0.1', () => resolve());
      });
    }
    return servers.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}
