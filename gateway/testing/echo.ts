// Test tool run inside test namespaces (via nsenter), not part of the daemon.
//   node echo.ts server <port>          TCP: answers "src <caller address>" (as HTTP to a GET), then echoes lines
//   node echo.ts client <host> <port>   sends a numbered line every 100 ms and prints every line it gets back;
//                                       prints "closed" when the connection ends
import { connect, createServer } from 'node:net';

const [mode, a, b] = process.argv.slice(2);
if (mode === 'server') {
  createServer((sock) => {
    sock.on('error', () => {});
    const src = `src ${(sock.remoteAddress ?? '').replace(/^::ffff:/, '')}\n`;
    // curl gets a one-shot HTTP answer; anything else a greeting and an echo.
    sock.once('data', (first: Buffer) => {
      if (first.toString('latin1').startsWith('GET ')) {
        sock.end(`HTTP/1.1 200 OK\r\nContent-Length: ${src.length}\r\nConnection: close\r\n\r\n${src}`);
        return;
      }
      sock.write(src);
      sock.write(first);
      sock.pipe(sock);
    });
  }).listen(Number(a), '0.0.0.0', () => process.stdout.write('listening\n'));
} else if (mode === 'client') {
  const sock = connect(Number(b), a as string);
  let n = 0;
  let timer: NodeJS.Timeout | undefined;
  sock.setEncoding('utf8');
  sock.on('connect', () => {
    timer = setInterval(() => sock.write(`${++n}\n`), 100);
  });
  sock.on('data', (chunk: string) => process.stdout.write(chunk));
  sock.on('error', (err) => process.stdout.write(`error ${err.message}\n`));
  sock.on('close', () => {
    clearInterval(timer);
    process.stdout.write('closed\n');
    process.exit(0);
  });
}
