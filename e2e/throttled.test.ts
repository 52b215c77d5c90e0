// Pod creation is not hostage to the operator's latest reconcile: with every
// read of the gateway VMSS throttled (429) past the operator's retries during
// its drift checks, the SGC's Ready condition drops, and new annotated pods
// still start and egress through the gateway.
import t from 'tap';
import { PROFILE_CONDITION } from '../lib/api/gateway-profile.ts';
import { createPod } from '../lab/kubelet.ts';
import { applySgc, getSgc, inPrefix, waitEgress, waitSgcReady } from '../lab/scenario.ts';
import { until } from '../testenv/wait.ts';
import { rbacDenials, startE2eLab } from './fixture.ts';

t.test('429s past the retries during drift checks: Ready drops, new pods still start and egress', async (t) => {
  const lab = await startE2eLab(t, { workers: 1, operatorFlags: ['--vm-requeue-interval', '2s'] });
  const [w0] = lab.workers as [typeof lab.workers[0] & object];
  await applySgc(lab, 'default', 'sgc-t', { gatewayNodepoolName: 'gwpool' });
  const prefix = (await waitSgcReady(lab, 'default', 'sgc-t')).status?.egressIpPrefix as string;

  lab.arm.inject({ method: 'GET', pathPattern: /virtualMachineScaleSets\/[^/]+$/i, status: 429, retryAfterSeconds: 1 });
  t.teardown(() => lab.arm.clearFaults());
  const throttled = await until('the drift check to give up on the throttled VMSS', async () => {
    const sgc = await getSgc(lab, 'default', 'sgc-t');
    return sgc.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'False' && c.reason === 'AzureThrottled') && sgc;
  }, 120_000, 500);
  t.match(throttled.status?.conditions?.find((c) => c.type === PROFILE_CONDITION), { status: 'True' }, 'the gateway profile stays provisioned');

  const pod = await createPod(lab, w0, { namespace: 'default', name: 'while-throttled', sgc: 'sgc-t' });
  const ip = await waitEgress(lab, pod);
  t.ok(inPrefix(ip, prefix), `a pod created while Ready is False egresses from ${ip}, inside ${prefix}`);
  t.equal((await getSgc(lab, 'default', 'sgc-t')).status?.conditions?.find((c) => c.type === 'Ready')?.status, 'False', 'and the throttling still lasted');

  lab.arm.clearFaults();
  await waitSgcReady(lab, 'default', 'sgc-t');
  t.pass('Ready again once Azure answers');
  t.same(await rbacDenials(lab), [], 'no part was refused a permission');
});
