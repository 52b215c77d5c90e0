// The lab internet's echo service: answers every HTTP request with the
// caller's source address as the server sees it, which is the whole point of
// an egress gateway. Run inside the internet namespace:
//   node lab/echo.ts --address 203.0.113.10 --port 80
import { createServer } from 'node:http';
import { parseFlags } from '../lib/cli.ts';

const flags = parseFlags(process.argv.slice(2), {
  address: { type: 'string', default: '0.0.0.0' },
  port: { type: 'string', default: '80' },
});
const server = createServer((req, res) => {
  const source = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  res.writeHead(200, { 'Content-Type': 'text/plain', Connection: 'close' }).end(`${source}\n`);
});
server.listen(Number(flags.port), flags.address, () => process.stdout.write(`listening ${flags.address}:${flags.port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
