/**
 * ARM requests by operation for one SGC create (to Ready) and one delete (to
 * gone), on a node pool VMSS of 2 instances.
 *   npx node bench/operator/create-delete.ts
 */
import { POOL, createSgc, deleteSgcAndWait, waitReady } from '../../operator/testing.ts';
import { byOperation, startBed } from './common.ts';

const total = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
const bed = await startBed();
try {
  const { w } = bed;
  w.emu.clearRequests();
  let t0 = performance.now();
  await createSgc(w.kube.rest, 'default', 'one', { gatewayNodepoolName: POOL });
  await waitReady(w.kube.rest, 'default', 'one', 'True', 300_000);
  const createMs = performance.now() - t0;
  const create = byOperation(w);
  w.emu.clearRequests();
  t0 = performance.now();
  await deleteSgcAndWait(w.kube.rest, 'default', 'one', 300_000);
  const deleteMs = performance.now() - t0;
  const del = byOperation(w);
  console.log(JSON.stringify({ createMs: Math.round(createMs), createRequests: total(create), create, deleteMs: Math.round(deleteMs), deleteRequests: total(del), delete: del }, null, 2));
} finally {
  await bed.cleanup.run();
}
process.exit(0);
