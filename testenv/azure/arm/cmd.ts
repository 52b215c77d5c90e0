import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { describeError, KegError } from '../../../lib/errors.ts';
import { loggerFor, parseFlags, shutdownSignal } from '../../../lib/cli.ts';
import { startArmEmulator, type ArmEmulator } from './index.ts';

/*
 * The standalone ARM emulator for the lab:
 *   npx node testenv/azure/arm/cmd.ts --state-dir DIR [--port N] [--seed seed.json]
 * prints one JSON line {endpoint, caPath, subscriptionId, tenantId} on stdout
 * once listening, keeps its state (and CA) in DIR across restarts, and serves
 * the admin API under /_emulator/.
 */

const OPTIONS = {
  'state-dir': { type: 'string' },
  host: { type: 'string', default: '127.0.0.1' },
  port: { type: 'string', default: '0' },
  seed: { type: 'string' },
  'subscription-id': { type: 'string' },
  'tenant-id': { type: 'string' },
  location: { type: 'string' },
  'page-size': { type: 'string', default: '50' },
  'lro-polls': { type: 'string', default: '2' },
  'lro-retry-after': { type: 'string', default: '1' },
  'lro-timeout-ms': { type: 'string', default: '10000' },
  'log-level': { type: 'string', default: 'info' },
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

function int(flags: Record<string, unknown>, name: keyof typeof OPTIONS): number {
  const v = Number(flags[name]);
  if (!Number.isInteger(v) || v < 0) throw new KegError('USAGE', `--${name}=${String(flags[name])}: want a non-negative integer`);
  return v;
}

export async function main(args: string[], out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<number> {
  const flags = parseFlags(args, OPTIONS);
  const stateDir = flags['state-dir'];
  if (!stateDir) throw new KegError('USAGE', '--state-dir is required');
  const log = loggerFor('arm-emulator', flags['log-level']);
  const fresh = !existsSync(join(stateDir, 'state.json'));
  const seed = flags.seed !== undefined ? readSeed(flags.seed) : undefined;
  const emu = await startArmEmulator({
    stateDir, host: flags.host, port: int(flags, 'port'), log,
    ...(flags['subscription-id'] ? { subscriptionId: flags['subscription-id'] } : {}),
    ...(flags['tenant-id'] ? { tenantId: flags['tenant-id'] } : {}),
    ...(flags.location ? { location: flags.location } : {}),
    pageSize: int(flags, 'page-size'), lroPolls: int(flags, 'lro-polls'),
    lroRetryAfterSeconds: int(flags, 'lro-retry-after'), lroTimeoutMs: int(flags, 'lro-timeout-ms'),
  });
  if (fresh && seed) applySeed(emu, seed);
  out(JSON.stringify({ endpoint: emu.endpoint, caPath: emu.caPath, subscriptionId: emu.subscriptionId, tenantId: emu.tenantId }));
  log.info('ARM emulator listening', { endpoint: emu.endpoint, stateDir, restored: !fresh });
  const signal = shutdownSignal(log);
  await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  await emu.stop();
  return 0;
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`arm-emulator: ${describeError(err)}\n`);
      process.exit(2);
    },
  );
}
