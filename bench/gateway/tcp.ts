// A TCP sink and source for the throughput benchmark (no iperf3 on these
// machines). Run inside a namespace:
//   node bench/gateway/tcp.ts sink --port 5201
//   node bench/gateway/tcp.ts source --host 203.0.113.10 --port 5201 --seconds 5
// The source writes as fast as the socket drains for --seconds, half-closes,
// and waits until the sink closes too, so every byte counted has reached the
// sink. It prints {"bytes":..,"seconds":..} on stdout.
import { createConnection, createServer } from 'node:net';
import { parseFlags } from '../../lib/cli.ts';

const [mode = '', ...rest] = process.argv.slice(2);
const flags = parseFlags(rest, {
  host: { type: 'string', default: '127.0.0.1' },
  port: { type: 'string', default: '5201' },
  seconds: { type: 'string', default: '5' },
});
const CHUNK = Buffer.alloc(128 * 1024, 0x5a);

function sink(): void {
  const server = createServer((socket) => {
    socket.on('data', () => {});
    socket.on('end', () => socket.end());
    socket.on('error', () => socket.destroy());
  });
  server.listen(Number(flags.port), '0.0.0.0', () => process.stdout.write(`listening :${flags.port}\n`));
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

function source(): void {
  const socket = createConnection({ host: flags.host, port: Number(flags.port), noDelay: true });
  let bytes = 0;
  let start = 0;
  const stopAt = () => start + Number(flags.seconds) * 1000;
  const pump = (): void => {
    while (performance.now() < stopAt()) {
      bytes += CHUNK.length;
      if (!socket.write(CHUNK)) return void socket.once('drain', pump);
    }
    socket.end();
  };
  socket.on('connect', () => {
    start = performance.now();
    pump();
  });
  socket.on('data', () => {});
  socket.on('close', (hadError) => {
    if (hadError) process.exit(1);
    process.stdout.write(`${JSON.stringify({ bytes, seconds: (performance.now() - start) / 1000 })}\n`);
  });
  socket.on('error', (err) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  });
}

if (mode === 'sink') sink();
else if (mode === 'source') source();
else {
  process.stderr.write('usage: tcp.ts sink|source [--host H] [--port P] [--seconds S]\n');
  process.exit(2);
}
