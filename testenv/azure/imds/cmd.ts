// The IMDS emulator as its own process, for the local lab:
//   npx node testenv/azure/imds/cmd.ts --listen 169.254.169.254:80 --config imds.json
// The config file is JSON: { "default"?: identity, "byCaller": { "<source ip>": identity } }
// (see ImdsConfigSchema). It prints "listening <url>" on stdout once ready.
import { readFileSync } from 'node:fs';
import { defineCommand, flag, parseBindAddress, programSpec, runCli, type Values } from '../../../lib/cli.ts';
import { ImdsConfigSchema, startImdsEmulator } from './server.ts';

const FLAGS = {
  listen: flag.bindAddress('where to listen (the lab: 169.254.169.254:80 in its router namespace)', '127.0.0.1:0'),
  config: flag.string('JSON: { "default"?: identity, "byCaller": { "<source ip>": identity } }', { arg: 'FILE', defaultText: 'no identities' }),
} as const;

async function serve(flags: Values<typeof FLAGS>): Promise<number> {
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

export const imdsEmulatorCommand = defineCommand({
  name: 'imds-emulator',
  summary: 'the Azure instance metadata service emulator of the lab',
  description: 'Prints "listening <url>" on stdout once ready.',
  examples: ['npx node testenv/azure/imds/cmd.ts --listen 169.254.169.254:80 --config imds.json'],
  flags: FLAGS,
  run: serve,
});

export function main(args: string[]): Promise<number> {
  return runCli(programSpec([imdsEmulatorCommand], 'testenv'), ['imds-emulator', ...args]);
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
