// node lab/portal-main.ts --listen tcp:127.0.0.1:6443 --connect unix:/run/keg-lab/api.sock
import { parseFlags } from '../lib/cli.ts';
import { parseEndpoint, startPortal } from './portal.ts';

const f = parseFlags(process.argv.slice(2), { listen: { type: 'string' }, connect: { type: 'string' } });
if (!f.listen || !f.connect) {
  process.stderr.write('usage: portal-main.ts --listen tcp:HOST:PORT|unix:PATH --connect tcp:HOST:PORT|unix:PATH\n');
  process.exit(2);
}
const portal = await startPortal(parseEndpoint(f.listen), parseEndpoint(f.connect));
process.stdout.write('ready\n');
process.on('SIGTERM', () => void portal.close().then(() => process.exit(0)));
