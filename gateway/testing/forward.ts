// Test tool: makes loopback services of the test process reachable from inside
// a test network namespace (the apiserver, the IMDS emulator), through unix
// sockets, which are not bound to a network namespace. Run inside the namespace:
//   node forward.ts <port>=<unix socket path> ...
// Each 127.0.0.1:<port> in the namespace is piped to the socket; the test
// process pipes the socket to its own 127.0.0.1:<port> (see lab.ts).
import { connect, createServer } from 'node:net';

let pending = process.argv.length - 2;
for (const arg of process.argv.slice(2)) {
  const [port, path] = arg.split('=') as [string, string];
  createServer((client) => {
    const upstream = connect(path);
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  }).listen(Number(port), '127.0.0.1', () => {
    if (--pending === 0) process.stdout.write('ready\n');
  });
}
