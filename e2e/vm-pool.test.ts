// AKS node pools of type VirtualMachines (standalone VMs), public and private mode, end to end.
import t from 'tap';
import { createPod } from '../lab/kubelet.ts';
import { DEFAULT_OUTBOUND_IP, ONPREM_CIDR, ONPREM_IP } from '../lab/plan.ts';
import { applySgc, egressIp, getFrom, inPrefix, waitEgress, waitSgcReady } from '../lab/scenario.ts';
import { until } from '../testenv/wait.ts';
import { startE2eLab } from './fixture.ts';

t.test('a gateway pool of type VirtualMachines', async (t) => {
  const lab = await startE2eLab(t, { workers: 1, gatewayPoolKind: 'vms' });
  const w = lab.workers[0] as NonNullable<typeof lab.workers[0]>;

  await t.test('public: pods egress from the prefix through the standalone gateway VMs', async (t) => {
    await applySgc(lab, 'default', 'vm-public', { gatewayNodepoolName: 'gwpool' });
    const sgc = await waitSgcReady(lab, 'default', 'vm-public');
    const prefix = sgc.status?.egressIpPrefix as string;
    const pod = await createPod(lab, w, { namespace: 'default', name: 'vm-public-pod', sgc: 'vm-public' });
    const ip = await waitEgress(lab, pod);
    t.ok(inPrefix(ip, prefix), `egress from ${ip}, inside ${prefix}`);
  });

  await t.test('private with azureNetworking: on-premises sees a gateway VM\'s secondary IP', async (t) => {
    await applySgc(lab, 'default', 'vm-private', { gatewayNodepoolName: 'gwpool', provisionPublicIps: false, defaultRoute: 'azureNetworking', excludeCidrs: [ONPREM_CIDR] });
    const sgc = await waitSgcReady(lab, 'default', 'vm-private');
    const listed = (sgc.status?.egressIpPrefix ?? '').split(',').filter(Boolean);
    t.equal(listed.length, lab.gateways.length, `a secondary IP per gateway VM: ${listed.join(', ')}`);
    const pod = await createPod(lab, w, { namespace: 'default', name: 'vm-private-pod', sgc: 'vm-private' });
    const onprem = await until('on-premises to answer', () => getFrom(lab, pod.netns.path, `http://${ONPREM_IP}/`), 60_000, 500);
    t.ok(listed.includes(onprem), `on-premises sees ${onprem}`);
    t.equal(await egressIp(lab, pod), DEFAULT_OUTBOUND_IP, 'everything else goes direct');
  });
});
