// A steady request loop for measuring outages, run inside a pod's namespace:
//   node lab/loop.ts http://203.0.113.10/ --interval-ms 100 --timeout-ms 1000
// Prints one JSON line per request: {"t": <start, ms since epoch>, "e": <end>, "ok": true, "source": "20.0.0.1"}
// and runs until SIGTERM. Each request uses a new connection, so a failover
// shows up as it would for new connections of a real workload. A request
// starts every interval whatever the ones before are doing: waiting for a
// lost one would hide the path's return for up to the timeout, so no outage
// could measure shorter than it. Lines come in the order requests finish;
// `t` is when each started.
import { get } from 'node:http';
import { parseFlags } from '../lib/cli.ts';

const [url, ...rest] = process.argv.slice(2);
const f = parseFlags(rest, { 'interval-ms': { type: 'string', default: '100' }, 'timeout-ms': { type: 'string', default: '1000' } });
const interval = Number(f['interval-ms']);
const timeout = Number(f['timeout-ms']);
// Lines are written synchronously to a file or pipe, so exiting at once loses nothing.
process.on('SIGTERM', () => process.exit(0));

function once(): Promise<{ ok: boolean; source?: string }> {
  return new Promise((resolve) => {
    const req = get(url as string, { timeout, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ ok: res.statusCode === 200, source: body.trim() }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ ok: false }));
  });
}

for (;;) {
  const t = Date.now();
  void once().then((r) => process.stdout.write(`${JSON.stringify({ t, e: Date.now(), ...r })}\n`));
  await new Promise((res) => setTimeout(res, Math.max(0, interval - (Date.now() - t))));
}
