// Bring-your-own prefix, and private mode with azureNetworking, end to end.
import t from 'tap';
import { createPod } from '../lab/kubelet.ts';
import { DEFAULT_OUTBOUND_IP, ONPREM_CIDR, ONPREM_IP } from '../lab/plan.ts';
import { applySgc, egressIp, getFrom, inPrefix, waitEgress, waitSgcReady } from '../lab/scenario.ts';
import { until } from '../testenv/wait.ts';
import { LAB_RESOURCE_GROUP } from '../lab/world.ts';
import { startE2eLab } from './fixture.ts';

t.test('public IP prefix modes', async (t) => {
  const lab = await startE2eLab(t, { workers: 1 });
  const w = lab.workers[0] as NonNullable<typeof lab.workers[0]>;

  await t.test('2. bring-your-own prefix: pods egress from it, and it outlives the SGC', async (t) => {
    const byo = lab.arm.addPublicIpPrefix({ resourceGroup: LAB_RESOURCE_GROUP, name: 'customer-prefix', prefixLength: 31 });
    await applySgc(lab, 'default', 'byo', { gatewayNodepoolName: 'gwpool', publicIpPrefixId: byo.id });
    const sgc = await waitSgcReady(lab, 'default', 'byo');
    t.equal(sgc.status?.egressIpPrefix, byo.ipPrefix, 'status reports the customer\'s prefix');
    const pod = await createPod(lab, w, { namespace: 'default', name: 'byo-pod', sgc: 'byo' });
    const ip = await waitEgress(lab, pod);
    t.ok(inPrefix(ip, byo.ipPrefix), `egress from ${ip}, inside ${byo.ipPrefix}`);
    await lab.kube.rest.delete(`/apis/egressgateway.kubernetes.azure.com/v1alpha1/namespaces/default/staticgatewayconfigurations/byo`);
    await until('the SGC to be gone', () => lab.kube.rest.get('/apis/egressgateway.kubernetes.azure.com/v1alpha1/namespaces/default/staticgatewayconfigurations/byo').then(() => false, () => true), 120_000);
    const left = Object.keys(lab.arm.inventory()).filter((k) => k.includes('/publicipprefixes/'));
    t.same(left, [byo.id.toLowerCase()], 'the customer\'s prefix is never deleted');
  });

  await t.test('6. private mode with azureNetworking: only the listed CIDRs use the gateway', async (t) => {
    await applySgc(lab, 'default', 'private', { gatewayNodepoolName: 'gwpool', provisionPublicIps: false, defaultRoute: 'azureNetworking', excludeCidrs: [ONPREM_CIDR] });
    const sgc = await waitSgcReady(lab, 'default', 'private');
    const listed = (sgc.status?.egressIpPrefix ?? '').split(',').filter(Boolean);
    t.equal(listed.length, lab.gateways.length, `status lists each gateway's secondary IP: ${listed.join(', ')}`);
    t.ok(listed.every((ip) => ip.startsWith('10.224.')), 'private addresses of the VNet');
    const pod = await createPod(lab, w, { namespace: 'default', name: 'private-pod', sgc: 'private' });
    const onprem = await until('on-premises to answer', () => getFrom(lab, pod.netns.path, `http://${ONPREM_IP}/`), 60_000, 500);
    t.ok(listed.includes(onprem), `on-premises sees a gateway's secondary IP (${onprem})`);
    t.equal(await egressIp(lab, pod), DEFAULT_OUTBOUND_IP, 'everything else goes direct, from the node');
  });
});
