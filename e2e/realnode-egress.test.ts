// Egress with real nodes: containerd, not the kubelet stand-in, runs the node's CNI chain with
// kube-egress-cni chained by the node agent, for a real Pod from the local test image.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { POD_SGC_ANNOTATION } from '../lib/api/constants.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import { createLogger } from '../lib/log.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { isNotFound } from '../lib/kube/rest.ts';
import { until } from '../testenv/wait.ts';
import { Lab } from '../lab/lab.ts';
import { leftovers } from '../lab/leftovers.ts';
import { startAgent, startGateway, startOperator } from '../lab/parts.ts';
import { DEFAULT_OUTBOUND_IP } from '../lab/plan.ts';
import { ECHO_LOOP, clientScript, createRealPod, echoedAddresses, podIp, realPodOutput, serveScript } from '../lab/realpod.ts';
import { applySgc, inPrefix, waitSgcReady } from '../lab/scenario.ts';
import { rbacDenials } from './fixture.ts';

/** Where the server pod of the ingress check listens. */
const SERVE_PORT = 8080;

t.test('real nodes: containerd runs the chain; an annotated Pod egresses from the gateway prefix, a plain Pod does not; a Pod behind a Service-style ingress stays reachable from another node; PodEndpoints are garbage-collected; plain pods start with the agent down', async (t) => {
  // The primary conflist is 0.3.0, as Azure CNI writes it.
  const lab = await Lab.start({ log: createLogger({ level: 'warn' }), gateways: 1, workers: 2, realNodes: true, probeIntervalMs: 2_000, keepDir: process.env.KEG_E2E_KEEP === '1' });
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await lab.stop();
  });
  const [worker, other] = lab.workers;
  const node = lab.realNodes.find((n) => n.m.computerName === worker?.computerName);
  const otherNode = lab.realNodes.find((n) => n.m.computerName === other?.computerName);
  if (!worker || !other || !node || !otherNode) throw new Error('lab without two workers');
  await startOperator(lab);
  for (const g of lab.gateways) startGateway(lab, g);
  await startAgent(lab, worker);
  await startAgent(lab, other);
  await applySgc(lab, 'default', 'sgc-a', { gatewayNodepoolName: 'gwpool' });
  const prefix = (await waitSgcReady(lab, 'default', 'sgc-a')).status?.egressIpPrefix as string;
  // The agent's own conflist (a copy of the primary with our entry last) sorts first, so containerd loads it.
  const own = join(node.cniDirs.confDir, '01-egressgateway.conflist');
  await until('the agent to chain itself into the node\'s conflist', () => existsSync(own) && readFileSync(own, 'utf8').includes('kube-egress'), 60_000);

  const annotated = await createRealPod(lab.kube.rest, node, { namespace: 'default', name: 'annotated', annotations: { [POD_SGC_ANNOTATION]: 'sgc-a' }, script: ECHO_LOOP });
  const plain = await createRealPod(lab.kube.rest, node, { namespace: 'default', name: 'plain', script: ECHO_LOOP });
  // The tunnel needs a moment after the pod starts: the loop asks every second.
  const seen = await until(`the annotated pod to egress from ${prefix}`, () => echoedAddresses(node, annotated).find((ip) => inPrefix(ip, prefix)), 90_000);
  t.ok(inPrefix(seen, prefix), `the annotated pod egresses from ${seen}, inside ${prefix}`);
  const plainSeen = await until('the plain pod to reach the echo', () => echoedAddresses(node, plain)[0], 30_000);
  t.equal(plainSeen, DEFAULT_OUTBOUND_IP, 'the plain pod egresses from the default outbound IP');

  // Service-style ingress: a client on another node connects to the annotated pod's own IP (as kube-proxy's
  // DNAT delivers a Service), and the answer goes back the way the connection came, not into the tunnel.
  const server = await createRealPod(lab.kube.rest, node, { namespace: 'default', name: 'server', annotations: { [POD_SGC_ANNOTATION]: 'sgc-a' }, script: serveScript(SERVE_PORT, ECHO_LOOP) });
  t.ok(inPrefix(await until('the server pod to egress through the gateway', () => echoedAddresses(node, server).find((ip) => inPrefix(ip, prefix)), 90_000), prefix), 'the server pod\'s egress uses the gateway');
  const serverIp = await until('the server pod\'s IP', () => podIp(lab.kube.rest, server), 30_000);
  const client = await createRealPod(lab.kube.rest, otherNode, { namespace: 'default', name: 'client', script: clientScript(serverIp, SERVE_PORT) });
  await until('the client on the other node to get the server\'s answer', () => realPodOutput(otherNode, client).includes('got served'), 60_000, 250);
  t.pass(`a client on another node reaches the annotated pod at ${serverIp} and gets its answer`);
  t.ok(inPrefix(echoedAddresses(node, server).at(-1) ?? '', prefix), 'meanwhile the server pod still egresses through the gateway');

  // The agent's PodEndpoint is owned by its Pod. With the agent dead (it deletes PodEndpoints on CNI DEL
  // itself) and the Pod force-deleted, only kube-controller-manager's garbage collector can remove it.
  const endpoint = resourcePath(RESOURCES.PodEndpoint, 'default', 'annotated');
  const owners = (await lab.kube.rest.get<{ metadata: { ownerReferences?: { uid: string }[] } }>(endpoint)).metadata.ownerReferences ?? [];
  t.same(owners.map((o) => o.uid), [annotated.uid], 'PodEndpoint owned by its Pod');
  await lab.procs.kill(`agent-${worker.computerName}`);
  await lab.kube.rest.delete(resourcePath(CORE.pods, 'default', 'annotated'), { query: { gracePeriodSeconds: 0 } });
  await until('the PodEndpoint to be garbage-collected', () => lab.kube.rest.get(endpoint).then(() => false, (err: unknown) => isNotFound(err)), 60_000);
  t.pass('PodEndpoint garbage-collected after its Pod, with the agent dead');

  // A node is never worse off than without us: with the agent dead, plain pods still start and reach out.
  const later = await createRealPod(lab.kube.rest, node, { namespace: 'default', name: 'plain-agent-down', script: ECHO_LOOP });
  t.equal(await until('a plain pod to start and reach the echo with the agent down', () => echoedAddresses(node, later)[0], 60_000), DEFAULT_OUTBOUND_IP, 'a plain pod starts and egresses with the agent down');
  t.same(await rbacDenials(lab), [], 'no part was refused by the chart\'s RBAC');
  stopped = true;
  await lab.stop();
  t.same(leftovers(lab), [], 'no process, cgroup or namespace left');
});
