// Deleting an SGC in use, and killing the control plane during traffic.
import t from 'tap';
import { azureView } from '../lab/azure-view.ts';
import { createPod, deletePod, podNetnsName } from '../lab/kubelet.ts';
import { gatewayNetnsName, startAgent, startOperator } from '../lab/parts.ts';
import { applySgc, getSgc, inPrefix, startLoop, waitEgress, waitSgcReady } from '../lab/scenario.ts';
import { podLinksIn } from '../testenv/cni/lab.ts';
import { until } from '../testenv/wait.ts';
import { inNetns } from '../lib/exec/runner.ts';
import type { Lab } from '../lab/lab.ts';
import { rbacDenials, startE2eLab } from './fixture.ts';

const SGC_PATH = '/apis/egressgateway.kubernetes.azure.com/v1alpha1/namespaces/default/staticgatewayconfigurations';

/** What the product owns in Azure: load balancers, prefixes, secondary ipConfigs and their public IPs. */
function azureFootprint(lab: Lab): unknown {
  const inv = lab.arm.inventory();
  return {
    ...azureView(inv),
    resources: Object.keys(inv).filter((k) => /\/(loadbalancers|publicipprefixes)\//.test(k)).sort(),
  };
}

/** Links, addresses, routes, rules and nftables of every gateway namespace, as text. */
async function gatewayState(lab: Lab): Promise<string> {
  const out: string[] = [];
  for (const g of lab.gateways) {
    const ns = gatewayNetnsName(lab, g);
    for (const argv of [['ip', '-n', ns, '-br', 'link'], ['ip', '-n', ns, '-br', 'addr'], ['ip', '-n', ns, 'route', 'show', 'table', 'all'], ['ip', '-n', ns, 'rule'], ['ip', 'netns', 'exec', ns, 'nft', 'list', 'ruleset']]) {
      out.push((await lab.runner.run(argv).catch((e: Error) => ({ stdout: `(${e.message.split(':')[0]})` }))).stdout.replace(/@if\d+/g, ''));
    }
    out.push((await lab.runner.run(['ip', '-n', g.name, '-br', 'addr']).then((r) => r.stdout)));
  }
  return out.join('\n');
}

t.test('lifecycle', async (t) => {
  const lab = await startE2eLab(t, { workers: 1 });
  const w = lab.workers[0] as NonNullable<typeof lab.workers[0]>;
  const emptyAzure = azureFootprint(lab);

  await t.test('10. operator, node agent and apiserver killed and restarted during traffic', async (t) => {
    await applySgc(lab, 'default', 'steady', { gatewayNodepoolName: 'gwpool' });
    const sgc = await waitSgcReady(lab, 'default', 'steady');
    const prefix = sgc.status?.egressIpPrefix as string;
    const pod = await createPod(lab, w, { namespace: 'default', name: 'steady-0', sgc: 'steady' });
    await waitEgress(lab, pod);
    const loop = startLoop(lab, pod, 200);
    await until('the loop to run', () => loop.samples().length >= 5, 30_000);
    const newPodWorks = async (name: string) => {
      const p = await until(`pod ${name} to be created`, () => createPod(lab, w, { namespace: 'default', name, sgc: 'steady' }), 60_000, 1_000);
      const ip = await waitEgress(lab, p);
      t.ok(inPrefix(ip, prefix), `a new pod (${name}) egresses from the prefix (${ip})`);
    };

    await lab.procs.kill('operator');
    await new Promise((r) => setTimeout(r, 2_000));
    await startOperator(lab);
    await newPodWorks('after-operator');

    await lab.procs.kill(`agent-${w.computerName}`);
    await new Promise((r) => setTimeout(r, 2_000));
    await startAgent(lab, w);
    await newPodWorks('after-agent');

    await lab.kube.stopApiServer();
    await new Promise((r) => setTimeout(r, 3_000));
    await lab.kube.startApiServer();
    await newPodWorks('after-apiserver');

    await loop.stop();
    const samples = loop.samples();
    const failed = samples.filter((s) => !s.ok).length;
    t.comment(`existing pod during the restarts: ${samples.length} requests, ${failed} failed`);
    t.equal(failed, 0, 'the existing pod kept egressing through every restart');
    t.ok(samples.every((s) => !s.ok || inPrefix(s.source ?? '', prefix)), 'always from the prefix');

    for (const name of ['steady-0', 'after-operator', 'after-agent', 'after-apiserver']) {
      const netns = podNetnsName(lab, 'default', name);
      await deletePod(lab, { namespace: 'default', name, node: w, netns: { name: netns, path: `/var/run/netns/${netns}` }, ip: '' });
    }
    await lab.kube.rest.delete(`${SGC_PATH}/steady`);
    await until('the SGC to be gone', () => lab.kube.rest.get(`${SGC_PATH}/steady`).then(() => false, () => true), 120_000);
    await until('Azure to be back to its starting state', () => JSON.stringify(azureFootprint(lab)) === JSON.stringify(emptyAzure), 60_000);
    t.same(azureFootprint(lab), emptyAzure, 'no leaked Azure resource');
    t.same(await podLinksIn(inNetns(lab.runner, w.path)), [], 'no pod-side WireGuard link left on the node');
  });

  await t.test('11. an SGC deleted while pods use it', async (t) => {
    const baseline = await gatewayState(lab);
    await applySgc(lab, 'default', 'doomed', { gatewayNodepoolName: 'gwpool' });
    await waitSgcReady(lab, 'default', 'doomed');
    const pod = await createPod(lab, w, { namespace: 'default', name: 'doomed-user', sgc: 'doomed' });
    await waitEgress(lab, pod);
    t.not(await gatewayState(lab), baseline, 'the gateways programmed it');
    await lab.kube.rest.delete(`${SGC_PATH}/doomed`);
    await until('the SGC to be gone', () => getSgc(lab, 'default', 'doomed').then(() => false, () => true), 120_000);
    const err = await createPod(lab, w, { namespace: 'default', name: 'too-late', sgc: 'doomed' }).then(() => undefined, (e: Error) => e);
    t.ok(err, 'a new annotated pod fails');
    t.match(String(err?.message), /doomed/, `with an error naming the SGC: ${String(err?.message).split('\n').slice(-3).join(' ')}`);
    // cnitool prints the plugin's message, not its code; code 11 is asserted by the CNI tests.
    t.match(String(err?.message), /not found; create it or fix the pod's annotation/, 'and saying what to do');
    await until('Azure to be back to its starting state', () => JSON.stringify(azureFootprint(lab)) === JSON.stringify(emptyAzure), 60_000);
    t.same(azureFootprint(lab), emptyAzure, 'all its Azure resources are gone');
    await until('the gateways to remove it', async () => (await gatewayState(lab)) === baseline, 60_000);
    t.equal(await gatewayState(lab), baseline, 'no link, address, route, rule or nftables state of it remains on the gateways');
  });

  t.same(await rbacDenials(lab), [], 'no part was refused by the chart\'s RBAC');
});
