// A tiny TCP echo of the caller's address, for traffic tests inside namespaces:
//   node echo.ts serve <port>          answers each connection with "<remote address>\n"
//   node echo.ts ask <host> <port>     prints the answer (exit 1 after 5 s without one)
import { connect, createServer } from 'node:net';

const [mode, a, b] = process.argv.slice(2);
if (mode === 'serve') {
  createServer((s) => s.end(`${s.remoteAddress}\n`)).listen(Number(a), '0.0.0.0');
} else {
  const s = connect({ host: a as string, port: Number(b) });
  const timer = setTimeout(() => process.exit(1), 5000);
  let got = '';
  s.on('data', (d: Buffer) => (got += d.toString()));
  s.on('end', () => {
    clearTimeout(timer);
    process.stdout.write(got);
  });
  s.on('error', () => process.exit(1));
}
