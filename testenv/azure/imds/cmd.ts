// The IMDS emulator as its own process, for the local lab:
//   npx node testenv/azure/imds/cmd.ts --listen 169.254.169.254:80 --config imds.json
// The config file is JSON: { "default"?: identity, "byCaller": { "<source ip>": identity } }
// (see ImdsConfigSchema). It prints "listening <url>" on stdout once ready.
import { readFileSync } from 'node:fs';
import { parseBindAddress, parseFlags } from '../../../lib/cli.ts';
import { ImdsConfigSchema, startImdsEmulator } from './server.ts';

export async function main(args: string[]): Promise<number> {
  const flags = parseFlags(args, { listen: { type: 'string', default: '127.0.0.1:0' }, config: { type: 'string' } });
  const { host, port } = parseBindAddress(flags.listen, 'listen');
  const config = flags.config === undefined ? {} : ImdsConfigSchema.parse(JSON.parse(readFileSync(flags.config, 'utf8')));
  const imds = await startImdsEmulator({ ...config, host, port });
  process.stdout.write(`listening ${imds.url}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await imds.close();
  return 0;
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
