// The agent runs as the chart's ServiceAccount for it, with exactly the
// chart's RBAC: watches for the cluster ranges, Pod and SGC reads,
// PodEndpoint create/delete, and the reconcile loop's recreation.
import t from 'tap';
import { KINDS } from '../../lib/api/constants.ts';
import { RESOURCES } from '../../lib/api/resources.ts';
import { resourcePath } from '../../lib/kube/paths.ts';
import { isNotFound } from '../../lib/kube/rest.ts';
import { generatePrivateKey } from '../../lib/wireguard/keys.ts';
import { startAgent } from '../../testenv/cni/agent.ts';
import { createApiServerSlice, createNode, createPod, createSgc, ensureNamespace, setSgcStatus } from '../../testenv/cni/cluster.ts';
import { CniLab } from '../../testenv/cni/lab.ts';
import { startTestKube } from '../../testenv/kubeapi/index.ts';
import { installChartIdentities, partKubeconfig } from '../../testenv/helm/accounts.ts';
import { tempNetns } from '../../testenv/netns.ts';
import { until } from '../../testenv/wait.ts';

t.test('the shipped RBAC is enough for ADD, CHECK, DEL and the reconcile loop', async (t) => {
  const kube = await startTestKube(t);
  const lab = await CniLab.create(t, { subnetOctet: 83 });
  await installChartIdentities(kube);
  await ensureNamespace(kube.rest, 'ns-rbac');
  await createNode(kube.rest, 'node-rbac', lab.subnet);
  // Bound to the agent's Pod on its node, as the kubelet's projected tokens are:
  // the PodEndpoint admission policies want the node it names.
  const kubeconfig = `${lab.dir}/agent.kubeconfig`;
  await partKubeconfig(kube, 'agent', kubeconfig, undefined, 'node-rbac');
  await createApiServerSlice(kube.rest, ['192.168.150.5']);
  const sgc = await createSgc(kube.rest, 'ns-rbac', 'egress');
  await setSgcStatus(kube.rest, 'ns-rbac', 'egress', sgc.generation, { ip: '192.168.250.1', port: 6000, publicKey: generatePrivateKey().publicKey() });
  await createPod(kube.rest, 'ns-rbac', 'app', 'egress');
  await startAgent(t, lab, kube, 'node-rbac', [`--kubeconfig=${kubeconfig}`, '--reconcile-interval=200ms']);

  const podNs = await tempNetns(t, 'pod');
  const call = CniLab.podCall('ns-rbac', 'app', { 'kubernetes.azure.com/static-gateway-configuration': 'egress' });
  const add = await lab.cnitool('add', podNs.path, call);
  t.ok(add.ok, `ADD as the agent's ServiceAccount ${add.ok ? '' : add.stderr}`);
  t.teardown(() => lab.cnitool('del', podNs.path, call));
  const endpoint = resourcePath(RESOURCES[KINDS.PodEndpoint], 'ns-rbac', 'app');
  const exists = () => kube.rest.get(endpoint).then(() => true, (err: unknown) => (isNotFound(err) ? false : Promise.reject(err)));
  t.ok(await exists(), 'PodEndpoint created');
  t.ok((await lab.cnitool('check', podNs.path, call)).ok, 'CHECK');
  await kube.rest.delete(endpoint);
  t.ok(await until('the reconcile loop recreates the PodEndpoint', exists, 20_000), 'PodEndpoint recreated');
  t.ok((await lab.cnitool('del', podNs.path, call)).ok, 'DEL');
  t.notOk(await exists(), 'PodEndpoint deleted');
});
