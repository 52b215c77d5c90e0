/**
 * VMSS writes when 10 SGCs on one VMSS are created at once (target: far fewer
 * than 10). Three runs, each on a fresh apiserver and emulator; prints each
 * run and the medians.
 *   npx node bench/operator/batching.ts
 */
import { createMany, median, startBed } from './common.ts';

const SGCS = 10;
const runs: { vmssWrites: number; instanceWrites: number; lbWrites: number; readyMs: number }[] = [];
for (let run = 0; run < 3; run++) {
  const bed = await startBed();
  try {
    bed.w.emu.clearRequests();
    const times = await createMany(bed.w, 'batch', SGCS);
    const log = bed.w.emu.requests();
    const count = (method: string, op: string) => log.filter((r) => r.method === method && r.operation === `${method} ${op}`).length;
    runs.push({
      vmssWrites: count('PATCH', 'virtualMachineScaleSets') + count('PUT', 'virtualMachineScaleSets'),
      instanceWrites: count('PUT', 'virtualMachineScaleSets/virtualMachines'),
      lbWrites: count('PUT', 'loadBalancers'),
      readyMs: Math.round(Math.max(...times)),
    });
    console.log(JSON.stringify({ run, ...runs.at(-1) }));
  } finally {
    await bed.cleanup.run();
  }
}
console.log(JSON.stringify({
  sgcs: SGCS,
  medianVmssModelWrites: median(runs.map((r) => r.vmssWrites)),
  medianInstanceWrites: median(runs.map((r) => r.instanceWrites)),
  medianLoadBalancerWrites: median(runs.map((r) => r.lbWrites)),
  medianAllReadyMs: median(runs.map((r) => r.readyMs)),
}));
process.exit(0);
