// Cluster ranges from a real apiserver (1.36: it has ServiceCIDR objects),
// kept current by watches, plus IMDS (the emulator) and flags.
import t from 'tap';
import { silentLogger } from '../../lib/log.ts';
import { CORE, resourcePath } from '../../lib/kube/paths.ts';
import { createApiServerSlice, createNode } from '../../testenv/cni/cluster.ts';
import { startImdsEmulator } from '../../testenv/azure/imds/server.ts';
import { startTestKube } from '../../testenv/kubeapi/index.ts';
import { Exclusions } from './exclusions.ts';
import { until } from '../../testenv/wait.ts';

t.test('every node\'s pod CIDRs, ServiceCIDRs, the API servers, IMDS subnets and flags, aggregated and watched', async (t) => {
  const kube = await startTestKube(t, { crds: false });
  await createNode(kube.rest, 'n-0', '10.244.0.0/24');
  await createNode(kube.rest, 'n-1', '10.244.1.0/24');
  await createApiServerSlice(kube.rest, ['192.168.150.5']);
  const imds = await startImdsEmulator({ default: { name: 'vm_0', computerName: 'vm000000', resourceGroupName: 'rg', subscriptionId: 's', subnet: { address: '10.224.0.0', prefix: '16' } } });
  t.teardown(() => imds.close());
  const ex = new Exclusions({ rest: kube.rest, log: silentLogger, own: ['169.254.169.254/32'], serviceCidrs: ['10.96.0.0/12'], vnetCidrs: ['172.16.0.0/16'], imdsEndpoint: imds.url });
  ex.start();
  t.teardown(() => ex.stop());
  t.same(await ex.get(), [
    '10.0.0.0/24', // the apiserver's ServiceCIDR (its kubernetes Service IP 10.0.0.1 inside it)
    '10.96.0.0/12', // --service-cidrs
    '10.224.0.0/16', // this node's subnet, from IMDS
    '10.244.0.0/23', // the two nodes' /24s
    '169.254.169.254/32', // the agent's own list
    '172.16.0.0/16', // --vnet-cidrs
    '192.168.150.5/32', // the API server endpoint
  ]);

  await createNode(kube.rest, 'n-2', '10.244.2.0/24');
  t.ok(await until('a new node\'s pod CIDR is excluded', async () => (await ex.get()).includes('10.244.2.0/24')), 'a new node\'s pod CIDR is excluded');
  await kube.rest.delete(resourcePath(CORE.nodes, undefined, 'n-1'));
  t.ok(await until('a deleted node\'s is not', async () => (await ex.get()).filter((c) => c.startsWith('10.244.')).join() === '10.244.0.0/24,10.244.2.0/24'), 'a deleted node\'s is not');
  await kube.rest.create('/apis/networking.k8s.io/v1/servicecidrs', { apiVersion: 'networking.k8s.io/v1', kind: 'ServiceCIDR', metadata: { name: 'extra' }, spec: { cidrs: ['10.50.0.0/16'] } });
  t.ok(await until('a new ServiceCIDR is excluded', async () => (await ex.get()).includes('10.50.0.0/16')), 'a new ServiceCIDR is excluded');
});

t.test('until the API answers, get() refuses with code 11 after its wait', async (t) => {
  const kube = await startTestKube(t, { crds: false });
  await kube.stopApiServer();
  const ex = new Exclusions({ rest: kube.rest, log: silentLogger, own: [] });
  ex.start();
  t.teardown(() => ex.stop());
  await t.rejects(ex.get(200), { cniCode: 11, message: /has not discovered the cluster ranges yet \(waiting for nodes, kubernetes Service, its EndpointSlices, ServiceCIDRs\)/ });
  await kube.startApiServer();
  t.ok(await until('the ranges arrive once the API is back', async () => (await ex.get(0).catch((): string[] => [])).includes('10.0.0.0/24')), 'the ranges arrive once the API is back');
});
