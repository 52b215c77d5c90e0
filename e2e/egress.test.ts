// End-to-end egress through the whole system in the lab: real traffic to the
// echo service, which reports the source address it sees.
import t from 'tap';
import { RESOURCES } from '../lib/api/resources.ts';
import { resourcePath } from '../lib/kube/paths.ts';
import { ENDPOINT_NODE_LABEL } from '../gateway/desired.ts';
import { createPod } from '../lab/kubelet.ts';
import { API_ENDPOINT_IP, API_ENDPOINT_PORT, DEFAULT_OUTBOUND_IP, ECHO_ALT_IP, NODE_LOCAL_DNS_IP } from '../lab/plan.ts';
import { applySgc, egressIp, getFrom, inPrefix, waitEgress, waitSgcReady } from '../lab/scenario.ts';
import { rbacDenials, serveInPod, startE2eLab } from './fixture.ts';

t.test('egress through the lab', async (t) => {
  const lab = await startE2eLab(t);
  const [w0, w1] = lab.workers as [typeof lab.workers[0] & object, typeof lab.workers[0] & object];
  await applySgc(lab, 'default', 'sgc-a', { gatewayNodepoolName: 'gwpool' });
  const a = await waitSgcReady(lab, 'default', 'sgc-a');
  const prefixA = a.status?.egressIpPrefix as string;

  await t.test('1. an annotated pod egresses from the prefix, a plain pod does not', async (t) => {
    const annotated = await createPod(lab, w0, { namespace: 'default', name: 'annotated', sgc: 'sgc-a' });
    const plain = await createPod(lab, w0, { namespace: 'default', name: 'plain' });
    const ip = await waitEgress(lab, annotated);
    t.ok(inPrefix(ip, prefixA), `annotated pod egresses from ${ip}, inside ${prefixA}`);
    const pe = await lab.kube.rest.get<{ metadata: { labels?: Record<string, string> } }>(resourcePath(RESOURCES.PodEndpoint, 'default', 'annotated'));
    t.equal(pe.metadata.labels?.[ENDPOINT_NODE_LABEL], w0.computerName, 'its PodEndpoint is stamped with its node (the admission policy, from the agent\'s Pod-bound token)');
    const plainIp = await egressIp(lab, plain);
    t.equal(plainIp, DEFAULT_OUTBOUND_IP, 'the plain pod egresses from the default outbound IP');
    t.notOk(inPrefix(plainIp, prefixA));
  });

  await t.test('3. a pod behind a Service-style ingress stays reachable while its egress uses the gateway', async (t) => {
    const pod = await createPod(lab, w0, { namespace: 'default', name: 'server', sgc: 'sgc-a' });
    serveInPod(lab, pod);
    t.ok(inPrefix(await waitEgress(lab, pod), prefixA), 'its egress uses the gateway');
    const client = await createPod(lab, w1, { namespace: 'default', name: 'client' });
    const seen = await getFrom(lab, client.netns.path, `http://${pod.ip}:8080/`).catch(async () => {
      await new Promise((r) => setTimeout(r, 1_000));
      return getFrom(lab, client.netns.path, `http://${pod.ip}:8080/`);
    });
    t.ok(seen.length > 0, `a client on another node connects to the pod and gets its answer (the pod saw ${seen})`);
  });

  await t.test('4. excludeCidrs: an excluded destination bypasses the gateway', async (t) => {
    await applySgc(lab, 'default', 'sgc-excl', { gatewayNodepoolName: 'gwpool', excludeCidrs: [`${ECHO_ALT_IP}/32`] });
    const sgc = await waitSgcReady(lab, 'default', 'sgc-excl');
    const pod = await createPod(lab, w1, { namespace: 'default', name: 'excl', sgc: 'sgc-excl' });
    const through = await waitEgress(lab, pod);
    t.ok(inPrefix(through, sgc.status?.egressIpPrefix as string), `other destinations go through the gateway (${through})`);
    t.equal(await getFrom(lab, pod.netns.path, `http://${ECHO_ALT_IP}/`), DEFAULT_OUTBOUND_IP, 'the excluded destination sees the node\'s default outbound IP');
  });

  await t.test('5. two SGCs: each pod egresses from its own prefix', async (t) => {
    await applySgc(lab, 'default', 'sgc-b', { gatewayNodepoolName: 'gwpool' });
    const b = await waitSgcReady(lab, 'default', 'sgc-b');
    const prefixB = b.status?.egressIpPrefix as string;
    t.not(prefixB, prefixA, 'a prefix of its own');
    t.not(b.status?.gatewayServerProfile?.port, a.status?.gatewayServerProfile?.port, 'a port of its own');
    const podA = await createPod(lab, w1, { namespace: 'default', name: 'pod-a', sgc: 'sgc-a' });
    const podB = await createPod(lab, w1, { namespace: 'default', name: 'pod-b', sgc: 'sgc-b' });
    t.ok(inPrefix(await waitEgress(lab, podA), prefixA), 'pod-a from sgc-a\'s prefix');
    t.ok(inPrefix(await waitEgress(lab, podB), prefixB), 'pod-b from sgc-b\'s prefix');
  });

  await t.test('7. with the default route through the gateway, pods still reach the API server and node-local DNS', async (t) => {
    const pod = await createPod(lab, w0, { namespace: 'default', name: 'apiclient', sgc: 'sgc-a' });
    await waitEgress(lab, pod);
    const route = (await lab.runner.run(['ip', '-n', pod.netns.name, 'route', 'get', API_ENDPOINT_IP])).stdout;
    t.match(route, /dev eth0/, `the API endpoint is routed around the tunnel: ${route.trim()}`);
    // Any HTTP answer proves the path; the pod has no credentials, so 401/403 is as good as 200.
    const version = await lab.runner.run(['nsenter', `--net=${pod.netns.path}`, process.execPath, '-e',
      `fetch('https://${API_ENDPOINT_IP}:${API_ENDPOINT_PORT}/version').then(r => console.log(r.status), e => { console.error(e.cause ?? e); process.exit(1) })`,
    ], { env: { NODE_TLS_REJECT_UNAUTHORIZED: '0' } }).then((r) => r.stdout, (e: Error) => e.message);
    t.match(version, /^(200|401|403)/, 'the API server answers the pod');
    t.equal(await getFrom(lab, pod.netns.path, `http://${NODE_LOCAL_DNS_IP}/`), pod.ip, 'node-local DNS answers, and sees the pod\'s own address (not the tunnel)');
  });

  t.same(await rbacDenials(lab), [], 'no part was refused by the chart\'s RBAC');
});
