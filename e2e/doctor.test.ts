// Doctor against the real lab: each symptom of docs/troubleshooting.md is
// produced by breaking the lab on purpose, and doctor must name it (its
// finding's code) and exit 1; the healthy pod passes, with a live probe.
// One lab, the breakages in sequence, the one that stops the agent last.
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { CNI_NOT_READY_TAINT, KINDS, POD_SGC_ANNOTATION } from '../lib/api/constants.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import { parseCommandLine } from '../lib/cli.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { isNotFound } from '../lib/kube/rest.ts';
import { PrivateKey } from '../lib/wireguard/keys.ts';
import { type AgentAccess, inspectArgv, parseInspectOutput } from '../doctor/agent.ts';
import { doctor } from '../doctor/cmd.ts';
import { doctorCommand, doctorFlags } from '../doctor/flags.ts';
import type { Report } from '../doctor/verdict.ts';
import { renderText } from '../doctor/render.ts';
import { AGENT_SELECTOR } from '../doctor/gather.ts';
import { GUARD_TABLE } from '../cni/manager/tunnel-guard.ts';
import { createPod } from '../lab/kubelet.ts';
import type { Lab, LabMachine } from '../lab/lab.ts';
import { SYSTEM_NAMESPACE } from '../lab/kube-objects.ts';
import { stopAgent } from '../lab/parts.ts';
import { REPO } from '../lab/processes.ts';
import { applySgc, ECHO_URL, getSgc, waitEgress, waitSgcReady } from '../lab/scenario.ts';
import { until } from '../testenv/wait.ts';
import { startE2eLab } from './fixture.ts';

const NS = 'default';
const SGC = RESOURCES[KINDS.StaticGatewayConfiguration];
const PE = RESOURCES[KINDS.PodEndpoint];
/** A finalizer of someone else's, which keeps a deleted SGC in Terminating. */
const HOLD = 'example.com/hold';

/**
 * What kubelet would report for the agent's DaemonSet pod on a node: the
 * lab runs the agent as a process, so the test registers its Pod (the
 * chart's labels, its --socket in the args) and its readiness.
 */
async function registerAgentPod(lab: Lab, m: LabMachine, ready: boolean): Promise<void> {
  const name = `kube-egress-gateway-cni-manager-${m.index}`;
  const labels = Object.fromEntries(AGENT_SELECTOR.split(',').map((kv) => kv.split('=') as [string, string]));
  await lab.kube.rest.create(resourcePath(CORE.pods, SYSTEM_NAMESPACE), {
    metadata: { name, namespace: SYSTEM_NAMESPACE, labels },
    spec: { nodeName: m.computerName, containers: [{ name: 'cni-manager', image: 'lab/none', args: ['--socket', `${m.dir}/cni.sock`] }] },
  }).catch(() => undefined);
  await lab.kube.rest.patch(resourcePath(CORE.pods, SYSTEM_NAMESPACE, name, 'status'), {
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: new Date().toISOString() }] },
  });
}

/**
 * The command doctor execs in the agent's container (`cni-manager inspect`,
 * on the agent's socket), run on the lab's host where that socket is: the
 * lab's agents are processes, so there is no container to exec into.
 */
function commandAccess(lab: Lab): AgentAccess {
  return async (agent, pod, probeUrl) => {
    const [, ...args] = inspectArgv(agent, pod, probeUrl);
    const { stdout } = await lab.runner.run([process.execPath, join(REPO, 'cmd/kube-egress-gateway.ts'), ...args], { timeoutMs: 30_000 });
    return parseInspectOutput(stdout);
  };
}

interface Run {
  code: number;
  text: string;
  report: Report;
}

/** One run of doctor with the report as JSON; the text is rendered from the same report. */
async function runDoctor(lab: Lab, pod: string, extra: string[] = []): Promise<Run> {
  const argv = [pod, '--kubeconfig', lab.kube.kubeconfigPath, '--system-namespace', SYSTEM_NAMESPACE, '--output', 'json', ...extra];
  let json = '';
  const code = await doctor(doctorFlags(parseCommandLine(doctorCommand, argv)), pod, { agent: commandAccess(lab), out: (s) => (json += s) });
  const report = JSON.parse(json) as Report;
  return { code, text: renderText(report), report };
}

const codes = (r: Run): string[] => r.report.checks.flatMap((c) => (c.code ? [c.code] : []));

async function expectFinding(t: Test, lab: Lab, pod: string, code: string, what: string): Promise<Run> {
  const run = await runDoctor(lab, pod);
  t.equal(run.code, 1, `${what}: doctor exits 1`);
  t.ok(codes(run).includes(code), `${what}: doctor names it (${code}); it said ${codes(run).join(', ')}`);
  t.match(run.text, `[${code}]`, `${what}: the text verdict names it, with a fix`);
  return run;
}

t.test('doctor names each troubleshooting symptom', async (t) => {
  const lab = await startE2eLab(t, { workers: 1 });
  const w = lab.workers[0] as LabMachine;
  await registerAgentPod(lab, w, true);
  // Runs before its SGC exists; annotated later.
  await createPod(lab, w, { namespace: NS, name: 'early' });
  await applySgc(lab, NS, 'gw', { gatewayNodepoolName: 'gwpool' });
  const sgc = await waitSgcReady(lab, NS, 'gw');
  const prefix = sgc.status?.egressIpPrefix as string;

  // Healthy: every check passes, the probe from the pod egresses from the prefix.
  const good = await createPod(lab, w, { namespace: NS, name: 'good', sgc: 'gw' });
  await waitEgress(lab, good);
  // Each gateway daemon reports in its GatewayStatus a moment after it programs the gateway.
  await until('every gateway node to report the SGC', async () => {
    const statuses = await lab.kube.rest.get<{ items: { status?: { gateways?: { staticGatewayConfiguration: string; ready: boolean }[] } }[] }>(resourcePath(RESOURCES[KINDS.GatewayStatus], SYSTEM_NAMESPACE));
    return statuses.items.filter((s) => s.status?.gateways?.some((g) => g.staticGatewayConfiguration === `${NS}/gw` && g.ready)).length === lab.gateways.length;
  }, 30_000, 200);
  const healthy = await runDoctor(lab, `${NS}/good`, ['--probe', '--echo-url', ECHO_URL]);
  t.equal(healthy.code, 0, `a healthy pod: exit 0\n${healthy.text}`);
  t.match(healthy.text, 'Verdict: no problem found.');
  const probe = healthy.report.checks.find((c) => c.name === 'probe');
  t.match(probe, { status: 'ok', detail: new RegExp(`inside the egress prefix ${prefix.replace(/\./g, '\\.')}`) }, 'the probe saw an address inside the prefix');
  t.match(healthy.report.checks.find((c) => c.name === 'tunnel'), { status: 'ok', detail: /last handshake \d+s ago/ }, 'the agent reports a recent handshake');
  t.equal(healthy.report.checks.filter((c) => c.name === 'gateways' && c.status === 'ok').length, lab.gateways.length, 'every gateway node serves the SGC');

  // Its network drifted: the tunnel's default route is gone from the pod.
  await lab.runner.run(['nsenter', `--net=${good.netns.path}`, 'ip', 'route', 'del', 'default']);
  const drifted = await expectFinding(t, lab, `${NS}/good`, 'PodNetworkDrift', 'a pod whose default route was removed');
  t.match(drifted.text, 'route 0.0.0.0/0 dev wg0 is missing');

  // A pod does not start: the SGC does not exist.
  await t.rejects(createPod(lab, w, { namespace: NS, name: 'nosgc', sgc: 'missing' }));
  await expectFinding(t, lab, `${NS}/nosgc`, 'SgcNotFound', 'an annotation naming no SGC');

  // A pod does not start: the annotation is malformed.
  await t.rejects(createPod(lab, w, { namespace: NS, name: 'badref', sgc: 'a/b/c' }));
  await expectFinding(t, lab, `${NS}/badref`, 'AnnotationInvalid', 'a malformed annotation');

  // A pod does not start: its namespace may not use the SGC.
  await lab.kube.rest.create(resourcePath(CORE.namespaces), { metadata: { name: 'other' } });
  await t.rejects(createPod(lab, w, { namespace: 'other', name: 'stranger', sgc: `${NS}/gw` }));
  await expectFinding(t, lab, 'other/stranger', 'NamespaceNotAllowed', 'a namespace the SGC is not shared with');
  // Shared, then no longer: the running pod keeps working until it restarts (a warning, exit 0).
  await lab.kube.rest.patch(resourcePath(SGC, NS, 'gw'), { spec: { allowedNamespaces: { names: ['other'] } } });
  await createPod(lab, w, { namespace: 'other', name: 'member', sgc: `${NS}/gw` });
  await lab.kube.rest.patch(resourcePath(SGC, NS, 'gw'), { spec: { allowedNamespaces: { names: [] } } });
  const narrowed = await runDoctor(lab, 'other/member');
  t.ok(codes(narrowed).includes('NamespaceNoLongerAllowed'), `a namespace removed from the allow list: named (${codes(narrowed).join(', ')})`);
  t.equal(narrowed.code, 0, 'as a warning: the pod still egresses');

  // The SGC does not become Ready (no such node pool): pods naming it do not start.
  await applySgc(lab, NS, 'nopool', { gatewayNodepoolName: 'nopool' });
  await until('the SGC to fail with VmssNotFound', async () => (await getSgc(lab, NS, 'nopool')).status?.conditions?.some((c) => c.type === 'Ready' && c.reason === 'VmssNotFound'), 60_000);
  await t.rejects(createPod(lab, w, { namespace: NS, name: 'waiting', sgc: 'nopool' }));
  const notReady = await expectFinding(t, lab, `${NS}/waiting`, 'SgcNotReady', 'an SGC that is not Ready');
  t.match(notReady.text, 'VmssNotFound', 'with the operator\'s reason');

  // A pod runs but does not egress: annotated after it was created, so never wired.
  const late = await createPod(lab, w, { namespace: NS, name: 'late' });
  await lab.kube.rest.patch(resourcePath(CORE.pods, NS, late.name), { metadata: { annotations: { [POD_SGC_ANNOTATION]: 'gw' } } });
  await expectFinding(t, lab, `${NS}/late`, 'NotWired', 'a pod annotated after its creation');
  await lab.kube.rest.patch(resourcePath(CORE.pods, NS, 'early'), { metadata: { annotations: { [POD_SGC_ANNOTATION]: 'gw' } } });
  await expectFinding(t, lab, `${NS}/early`, 'CreatedBeforeSgcReady', 'a pod created before its SGC was Ready');

  // A stale endpoint: the PodEndpoint holds another IP than the pod's.
  const moved = await createPod(lab, w, { namespace: NS, name: 'moved', sgc: 'gw' });
  await lab.kube.rest.patch(resourcePath(PE, NS, moved.name), { spec: { podIpAddress: '10.244.0.250/32' } });
  await expectFinding(t, lab, `${NS}/moved`, 'EndpointIpMismatch', 'a PodEndpoint with another IP');
  await until('a gateway to refuse the endpoint', async () => codes(await runDoctor(lab, `${NS}/moved`)).includes('EndpointRefused'), 30_000, 500);
  t.pass('and the gateways\' refusal of it, from GatewayStatus');

  // A forged or stale key: the PodEndpoint's key is not the pod's.
  const rekeyed = await createPod(lab, w, { namespace: NS, name: 'rekeyed', sgc: 'gw' });
  await lab.kube.rest.patch(resourcePath(PE, NS, rekeyed.name), { spec: { podPublicKey: PrivateKey.generate().publicKey() } });
  await expectFinding(t, lab, `${NS}/rekeyed`, 'EndpointKeyMismatch', 'a PodEndpoint with another key');

  // Pods lost egress after their SGC was deleted.
  await applySgc(lab, NS, 'doomed', { gatewayNodepoolName: 'gwpool' });
  await waitSgcReady(lab, NS, 'doomed');
  await createPod(lab, w, { namespace: NS, name: 'orphan', sgc: 'doomed' });
  // The annotation changed after the pod was wired.
  await lab.kube.rest.patch(resourcePath(CORE.pods, NS, rekeyed.name), { metadata: { annotations: { [POD_SGC_ANNOTATION]: 'doomed' } } });
  await expectFinding(t, lab, `${NS}/rekeyed`, 'AnnotationChanged', 'an annotation changed after the pod was wired');
  // The SGC is being deleted (another controller's finalizer holds it), then gone.
  const finalizers = (await getSgc(lab, NS, 'doomed')).metadata.finalizers;
  await lab.kube.rest.patch(resourcePath(SGC, NS, 'doomed'), [finalizers ? { op: 'add', path: '/metadata/finalizers/-', value: HOLD } : { op: 'add', path: '/metadata/finalizers', value: [HOLD] }], 'json');
  await lab.kube.rest.delete(resourcePath(SGC, NS, 'doomed'));
  await expectFinding(t, lab, `${NS}/orphan`, 'SgcDeleting', 'an SGC being deleted');
  // Read, then write only if nothing changed in between (the operator removes its own finalizer meanwhile).
  await until('our finalizer to be removed', async () => {
    const held = await getSgc(lab, NS, 'doomed');
    const rest = (held.metadata.finalizers ?? []).filter((f) => f !== HOLD);
    return lab.kube.rest.patch(resourcePath(SGC, NS, 'doomed'), [{ op: 'test', path: '/metadata/resourceVersion', value: held.metadata.resourceVersion }, { op: 'replace', path: '/metadata/finalizers', value: rest }], 'json').then(() => true, () => false);
  }, 30_000);
  await until('the SGC to be gone', () => lab.kube.rest.get(resourcePath(SGC, NS, 'doomed')).then(() => false, (err: unknown) => isNotFound(err)), 60_000);
  await expectFinding(t, lab, `${NS}/orphan`, 'SgcDeletedWhileInUse', 'an SGC deleted while in use');

  // The node's tunnel guard is gone: a gateway the pod left could pull its tunnel back.
  await lab.runner.run(['nsenter', `--net=${w.path}`, 'nft', 'delete', 'table', 'inet', GUARD_TABLE]);
  await expectFinding(t, lab, `${NS}/good`, 'TunnelUnguarded', 'a pod tunnel the node does not guard');

  // The node agent is down, and the node kept its cni-not-ready taint.
  await stopAgent(lab, w);
  await registerAgentPod(lab, w, false);
  await lab.kube.rest.patch(resourcePath(CORE.nodes, undefined, w.computerName), { spec: { taints: [{ key: CNI_NOT_READY_TAINT, effect: 'NoSchedule' }] } });
  const down = await expectFinding(t, lab, `${NS}/good`, 'AgentNotReady', 'the node agent not Ready');
  t.ok(codes(down).includes('PluginNotChained'), 'and the node\'s cni-not-ready taint');

  // Not an egress pod at all.
  await lab.kube.rest.create(resourcePath(CORE.pods, NS), { metadata: { name: 'plain' }, spec: { nodeName: w.computerName, containers: [{ name: 'app', image: 'lab/none' }] } });
  await expectFinding(t, lab, `${NS}/plain`, 'NoAnnotation', 'a pod without the annotation');
  const none = await runDoctor(lab, `${NS}/nobody`);
  t.same([none.code, codes(none)], [1, ['PodNotFound']], 'a pod that does not exist');
});
