import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { KegError } from '../../../lib/errors.ts';
import { COMMON_FLAGS, defineCommand, flag, loggerFor, programSpec, runCli, shutdownSignal, type Io, type Values } from '../../../lib/cli.ts';
import { parseDuration } from '../../../lib/duration.ts';
import { startArmEmulator, type ArmEmulator } from './index.ts';

/*
 * The standalone ARM emulator for the lab:
 *   npx node testenv/azure/arm/cmd.ts --state-dir DIR [--port N] [--seed seed.json]
 * prints one JSON line {endpoint, caPath, subscriptionId, tenantId} on stdout
 * once listening, keeps its state (and CA) in DIR across restarts, and serves
 * the admin API under /_emulator/.
 */

const FLAGS = {
  'state-dir': flag.string('keeps the state and CA across restarts (required)', { arg: 'DIR' }),
  host: flag.string('listen address', { arg: 'HOST', default: '127.0.0.1' }),
  port: flag.string('listen port; 0 picks a free one', { arg: 'PORT', default: '0' }),
  seed: flag.string('JSON with resourceGroups, subnets, vmss, publicIpPrefixes, applied to a fresh state', { arg: 'FILE' }),
  'subscription-id': flag.string('the subscription served', { arg: 'ID', defaultText: 'a fixed test one' }),
  'tenant-id': flag.string('the tenant of the token endpoint', { arg: 'ID', defaultText: 'a fixed test one' }),
  location: flag.string('the region of created resources', { arg: 'REGION', defaultText: 'the emulator\'s' }),
  'page-size': flag.string('items per page of list operations', { arg: 'N', default: '50' }),
  'lro-polls': flag.string('polls before a long-running operation completes', { arg: 'N', default: '2' }),
  'lro-retry-after': flag.duration('Retry-After of long-running operations (a bare number is seconds)', '1'),
  'lro-timeout': flag.duration('how long an unpolled long-running operation lives', '10s'),
  'log-level': COMMON_FLAGS['log-level'],
} as const;

const seedSchema = z.object({
  resourceGroups: z.array(z.string()).default([]),
  subnets: z.array(z.object({ resourceGroup: z.string(), vnetName: z.string(), subnetName: z.string(), addressPrefix: z.string() })).default([]),
  vmss: z.array(z.object({
    resourceGroup: z.string(), name: z.string(), instances: z.int().min(0),
    tags: z.record(z.string(), z.string()).optional(), subnetId: z.string().optional(),
  })).default([]),
  publicIpPrefixes: z.array(z.object({ resourceGroup: z.string(), name: z.string(), prefixLength: z.int() })).default([]),
});
export type Seed = z.infer<typeof seedSchema>;

function readSeed(file: string): Seed {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new KegError('USAGE', `--seed ${file}: cannot read JSON`, { cause: err });
  }
  const r = seedSchema.safeParse(raw);
  if (!r.success) throw new KegError('USAGE', `--seed ${file}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data;
}

export function applySeed(emu: ArmEmulator, seed: Seed): void {
  seed.resourceGroups.forEach((rg) => emu.addResourceGroup(rg));
  seed.subnets.forEach((s) => emu.addSubnet(s));
  seed.vmss.forEach((v) => emu.addVmss(v));
  seed.publicIpPrefixes.forEach((p) => emu.addPublicIpPrefix(p));
}

function int(flags: Record<string, unknown>, name: keyof typeof FLAGS): number {
  const v = Number(flags[name]);
  if (!Number.isInteger(v) || v < 0) throw new KegError('USAGE', `--${name}=${String(flags[name])}: want a non-negative integer`);
  return v;
}

async function serve(flags: Values<typeof FLAGS>, out: (line: string) => void): Promise<number> {
  const stateDir = flags['state-dir'];
  if (!stateDir) throw new KegError('USAGE', '--state-dir is required: where the emulator keeps its state');
  const log = loggerFor('arm-emulator', flags['log-level']);
  const fresh = !existsSync(join(stateDir, 'state.json'));
  const seed = flags.seed !== undefined ? readSeed(flags.seed) : undefined;
  const emu = await startArmEmulator({
    stateDir, host: flags.host, port: int(flags, 'port'), log,
    ...(flags['subscription-id'] ? { subscriptionId: flags['subscription-id'] } : {}),
    ...(flags['tenant-id'] ? { tenantId: flags['tenant-id'] } : {}),
    ...(flags.location ? { location: flags.location } : {}),
    pageSize: int(flags, 'page-size'), lroPolls: int(flags, 'lro-polls'),
    lroRetryAfterSeconds: Math.ceil(parseDuration(flags['lro-retry-after'], 'lro-retry-after') / 1000), lroTimeoutMs: parseDuration(flags['lro-timeout'], 'lro-timeout'),
  });
  if (fresh && seed) applySeed(emu, seed);
  out(JSON.stringify({ endpoint: emu.endpoint, caPath: emu.caPath, subscriptionId: emu.subscriptionId, tenantId: emu.tenantId }));
  log.info('ARM emulator listening', { endpoint: emu.endpoint, stateDir, restored: !fresh });
  const signal = shutdownSignal(log);
  await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  await emu.stop();
  return 0;
}

export const armEmulatorCommand = (out: (line: string) => void) => defineCommand({
  name: 'arm-emulator',
  summary: 'the Azure Resource Manager emulator of the lab (HTTPS, own CA, admin API under /_emulator/)',
  description: 'Prints one JSON line {endpoint, caPath, subscriptionId, tenantId} on stdout once listening.',
  examples: ['npx node testenv/azure/arm/cmd.ts --state-dir /tmp/arm --seed seed.json'],
  flags: FLAGS,
  run: (flags) => serve(flags, out),
});

/** The emulator's CLI: `npx node testenv/azure/arm/cmd.ts --state-dir DIR [--port N] [--seed seed.json]`. */
export function main(args: string[], out: (line: string) => void = (l) => process.stdout.write(`${l}\n`), io?: Io): Promise<number> {
  return runCli(programSpec([armEmulatorCommand(out)], 'testenv'), ['arm-emulator', ...args], io);
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
