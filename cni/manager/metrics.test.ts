import t from 'tap';
import { createRegistry } from '../../lib/metrics.ts';
import type { PodRecord } from '../podnet/record.ts';
import { wiredPodsMetric } from './metrics.ts';
import { podStore } from './pods.ts';

const record = (containerId: string, namespace: string, sgc: string, unwired?: boolean): PodRecord => ({
  containerId, network: 'net', ifname: 'eth0', netns: `/var/run/netns/${containerId}`, pod: { namespace, name: containerId },
  staticGatewayConfiguration: sgc, hostLink: `keg-${containerId}`, podIp: '10.244.0.9', podPublicKey: 'pub', gatewayEndpoint: '10.0.0.100:6000',
  gatewayPublicKey: 'gwpub', defaultRoute: 'staticEgressGateway', excludeCidrs: [], routes: [], ...(unwired !== undefined && { unwired }),
});

t.test('wired pods by SGC, read from the pod records when scraped', async (t) => {
  const pods = podStore(t.testdir());
  const registry = createRegistry('test', { processMetrics: false });
  wiredPodsMetric(registry, () => pods.list());
  pods.write('a', record('a', 'team-a', 'gw'));
  pods.write('b', record('b', 'team-a', 'gw'));
  pods.write('c', record('c', 'team-b', 'team-a/gw'));
  pods.write('d', record('d', 'team-b', 'other'));
  pods.write('e', record('e', 'team-b', 'other', true));
  const text = await registry.getSingleMetricAsString('keg_cni_wired_pods');
  t.match(text, /keg_cni_wired_pods\{sgc="team-a\/gw",component="test"\} 3/, 'a shared SGC counts the pods of every namespace using it');
  t.match(text, /keg_cni_wired_pods\{sgc="team-b\/other",component="test"\} 1/, 'a pod DEL unwired is not counted');
  pods.remove('d');
  t.notMatch(await registry.getSingleMetricAsString('keg_cni_wired_pods'), /team-b\/other/, 'an SGC without pods leaves the metric');
});
