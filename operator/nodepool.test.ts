import t from 'tap';
import { REASONS } from './reasons.ts';
import { RG, createSgc, deleteSgcAndWait, startOperator, startWorld, waitReady } from './testing.ts';

/* Node-pool lookup as Go does it: the pool tag matched case-insensitively, a missing prefix-size tag an error (in public mode). */

const NS = 'default';

t.test('node-pool lookup', async (t) => {
  const w = await startWorld(t);
  w.emu.addVmss({ resourceGroup: RG, name: 'aks-mixed-vmss', instances: 1, tags: { 'aks-managed-poolName': 'MixedCase', 'aks-managed-gatewayIPPrefixSize': '31' } });
  w.emu.addVmss({ resourceGroup: RG, name: 'aks-notag-vmss', instances: 1, tags: { 'aks-managed-poolName': 'notag' } });
  const { rest } = w.kube;
  await startOperator(t, w);

  await t.test('the pool tag matches whatever its case', async (t) => {
    await createSgc(rest, NS, 'mixed', { gatewayNodepoolName: 'mixedcase' });
    const sgc = await waitReady(rest, NS, 'mixed');
    t.match(sgc.status?.egressIpPrefix, /\/31$/, 'the pool was found, with its prefix size');
    await deleteSgcAndWait(rest, NS, 'mixed');
  });

  await t.test('public mode on a pool without the prefix-size tag is an error with a reason', async (t) => {
    await createSgc(rest, NS, 'notag', { gatewayNodepoolName: 'notag' });
    const sgc = await waitReady(rest, NS, 'notag', 'False', 30_000, REASONS.prefixSizeInvalid);
    t.match(sgc.status?.conditions?.find((c) => c.type === 'Ready')?.message, /has no tag aks-managed-gatewayIPPrefixSize/);
    await deleteSgcAndWait(rest, NS, 'notag');
  });

  await t.test('private mode needs no prefix size', async (t) => {
    await createSgc(rest, NS, 'notag-private', { gatewayNodepoolName: 'notag', provisionPublicIps: false });
    await waitReady(rest, NS, 'notag-private');
    t.pass('Ready');
    await deleteSgcAndWait(rest, NS, 'notag-private');
  });
});
