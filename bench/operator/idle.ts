/**
 * ARM writes (and reads) during idle minutes with 3 Ready SGCs (target: 0
 * writes), at the production drift requeue interval of 5 minutes, so the
 * window includes one full drift check of every gateway.
 *   npx node bench/operator/idle.ts [minutes, default 5]
 */
import { createMany, isWrite, startBed } from './common.ts';

const minutes = Number(process.argv[2] ?? 5);
const bed = await startBed();
try {
  await createMany(bed.w, 'idle', 3);
  // Let the status writes of the create settle, then watch.
  await new Promise((r) => setTimeout(r, 5_000));
  bed.w.emu.clearRequests();
  await new Promise((r) => setTimeout(r, minutes * 60_000));
  const log = bed.w.emu.requests().filter((r) => !r.operation.includes('token'));
  console.log(JSON.stringify({ minutes, sgcs: 3, armWrites: log.filter((r) => isWrite(r.method)).length, armReads: log.filter((r) => r.method === 'GET').length }));
} finally {
  await bed.cleanup.run();
}
process.exit(0);
