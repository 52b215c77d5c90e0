// Shared gateways at ADD, with the agent running as the chart's ServiceAccount
// (so the namespace reads and Pod events it needs are in the shipped RBAC):
// pods of allowed namespaces are wired to the other namespace's SGC, others
// are refused with a CNI error and an event, and narrowing the allow list
// refuses new pods while wired ones stay wired.
import t from 'tap';
import { KINDS } from '../../lib/api/constants.ts';
import { RESOURCES } from '../../lib/api/resources.ts';
import { CORE, resourcePath } from '../../lib/kube/paths.ts';
import { isNotFound } from '../../lib/kube/rest.ts';
import { generatePrivateKey } from '../../lib/wireguard/keys.ts';
import { startAgent } from '../../testenv/cni/agent.ts';
import { createApiServerSlice, createNode, createPod, createSgc, ensureNamespace, setSgcStatus } from '../../testenv/cni/cluster.ts';
import { CniLab } from '../../testenv/cni/lab.ts';
import { startTestKube } from '../../testenv/kubeapi/index.ts';
import { installChartIdentities, partKubeconfig } from '../../testenv/helm/accounts.ts';
import { tempNetns } from '../../testenv/netns.ts';
import { until } from '../../testenv/wait.ts';

const OWNER = 'egress';
const REF = `${OWNER}/shared`;
const ANNOTATION = 'kubernetes.azure.com/static-gateway-configuration';

interface Endpoint { spec: { staticGatewayConfiguration: string } }
interface Event { reason: string; type: string; message: string; involvedObject: { kind: string; name: string } }

t.test('an SGC shared with other namespaces', async (t) => {
  const kube = await startTestKube(t);
  const lab = await CniLab.create(t, { subnetOctet: 84 });
  await installChartIdentities(kube);
  await ensureNamespace(kube.rest, OWNER);
  await ensureNamespace(kube.rest, 'team-a');
  await ensureNamespace(kube.rest, 'team-b', { 'egress.example.com/shared': 'true' });
  await ensureNamespace(kube.rest, 'team-c');
  await createNode(kube.rest, 'node-share', lab.subnet);
  const kubeconfig = `${lab.dir}/agent.kubeconfig`;
  await partKubeconfig(kube, 'agent', kubeconfig, undefined, 'node-share');
  await createApiServerSlice(kube.rest, ['192.168.150.5']);
  const sgc = await createSgc(kube.rest, OWNER, 'shared', { allowedNamespaces: { names: ['team-a'], selector: { matchLabels: { 'egress.example.com/shared': 'true' } } } });
  await setSgcStatus(kube.rest, OWNER, 'shared', sgc.generation, { ip: '192.168.250.1', port: 6000, publicKey: generatePrivateKey().publicKey() });
  await startAgent(t, lab, kube, 'node-share', [`--kubeconfig=${kubeconfig}`]);

  const add = async (ns: string, name: string, sgcRef = REF) => {
    await createPod(kube.rest, ns, name, sgcRef);
    const netns = await tempNetns(t, `${ns}-${name}`);
    const call = CniLab.podCall(ns, name, { [ANNOTATION]: sgcRef });
    const outcome = await lab.cnitool('add', netns.path, call);
    t.teardown(() => lab.cnitool('del', netns.path, call));
    return { outcome, netns, call };
  };
  const endpoint = (ns: string, name: string) => kube.rest.get<Endpoint>(resourcePath(RESOURCES[KINDS.PodEndpoint], ns, name));

  const a = await add('team-a', 'app');
  t.ok(a.outcome.ok, `a namespace listed by name is wired ${a.outcome.ok ? '' : a.outcome.stderr}`);
  t.equal((await endpoint('team-a', 'app')).spec.staticGatewayConfiguration, REF, 'its PodEndpoint lives in the pod\'s namespace and names the SGC as <namespace>/<name>');
  const b = await add('team-b', 'app');
  t.ok(b.outcome.ok, `a namespace matched by its labels is wired (the agent reads the Namespace) ${b.outcome.ok ? '' : b.outcome.stderr}`);
  const own = await add(OWNER, 'app', 'shared');
  t.ok(own.outcome.ok, 'the SGC\'s own namespace keeps the bare name');
  t.equal((await endpoint(OWNER, 'app')).spec.staticGatewayConfiguration, 'shared', 'and writes it as the Go original did');

  const c = await add('team-c', 'app');
  t.notOk(c.outcome.ok, 'a namespace not allowed is refused at ADD');
  t.match(c.outcome.stderr, /failed \(add\): namespace team-c may not use StaticGatewayConfiguration egress\/shared.*allowedNamespaces/, 'with a CNI error that says why');
  const events = await until('the refusal event on the Pod', async () => {
    const list = (await kube.rest.get<{ items: Event[] }>(resourcePath(CORE.events, 'team-c'))).items.filter((e) => e.reason === 'NamespaceNotAllowed');
    return list.length > 0 && list;
  }, 10_000);
  t.match(events[0], { type: 'Warning', involvedObject: { kind: 'Pod', name: 'app' }, message: /namespace team-c may not use/ });
  t.equal(await endpoint('team-c', 'app').then(() => 'exists', (err: unknown) => (isNotFound(err) ? 'none' : Promise.reject(err))), 'none', 'and gets no PodEndpoint');
  const bad = await add('team-c', 'typo', 'egress/shared/x');
  t.match(bad.outcome.stderr, /"egress\/shared\/x" is neither <name> nor <namespace>\/<name>/, 'a malformed reference is refused as such');

  await kube.rest.patch(resourcePath(RESOURCES[KINDS.StaticGatewayConfiguration], OWNER, 'shared'), { spec: { allowedNamespaces: { names: [] } } }, 'merge');
  const a2 = await add('team-a', 'app2');
  t.notOk(a2.outcome.ok, 'after team-a is removed from the list, its new pods are refused');
  t.ok((await lab.cnitool('check', a.netns.path, a.call)).ok, 'its running pod stays wired until it restarts (CHECK passes)');
  t.equal((await endpoint('team-a', 'app')).spec.staticGatewayConfiguration, REF, 'and keeps its PodEndpoint');
  t.ok((await lab.cnitool('del', a.netns.path, a.call)).ok, 'DEL of a pod whose namespace left the list succeeds');
});
