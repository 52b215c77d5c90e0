// A one-shot HTTP GET that prints the response body, for checking egress from
// inside any lab namespace (node, pod):
//   node lab/client.ts http://203.0.113.10/ [--local-address 10.224.0.100] [--timeout-ms 3000]
// Exit 0 with the body on stdout; exit 1 with the reason on stderr.
import { get } from 'node:http';
import { parseFlags } from '../lib/cli.ts';

const [url, ...rest] = process.argv.slice(2);
const flags = parseFlags(rest, { 'local-address': { type: 'string' }, 'timeout-ms': { type: 'string', default: '3000' } });
if (!url) {
  process.stderr.write('usage: client.ts URL [--local-address IP] [--timeout-ms N]\n');
  process.exit(2);
}
const req = get(url, { localAddress: flags['local-address'], timeout: Number(flags['timeout-ms']), agent: false }, (res) => {
  let body = '';
  res.on('data', (c: Buffer) => (body += c.toString()));
  res.on('end', () => {
    process.stdout.write(body);
    process.exitCode = res.statusCode === 200 ? 0 : 1;
  });
});
req.on('timeout', () => req.destroy(new Error(`timed out after ${flags['timeout-ms']} ms`)));
req.on('error', (err) => {
  process.stderr.write(`${err.message}\n`);
  process.exitCode = 1;
});
