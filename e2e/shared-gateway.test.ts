// One SGC shared across namespaces, end to end: pods of two allowed
// namespaces egress from its prefix, a third namespace is refused, and
// removing a namespace from the allow list refuses its new pods while its
// running pod keeps egressing.
import t from 'tap';
import { KINDS } from '../lib/api/constants.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { createPod } from '../lab/kubelet.ts';
import { applySgc, egressIp, inPrefix, waitEgress, waitSgcReady } from '../lab/scenario.ts';
import { until } from '../testenv/wait.ts';
import { rbacDenials, startE2eLab } from './fixture.ts';

const OWNER = 'egress';
const SHARED_LABEL = 'egress.example.com/shared';

t.test('a gateway shared across namespaces', async (t) => {
  const lab = await startE2eLab(t, { workers: 1 });
  const w = lab.workers[0] as NonNullable<typeof lab.workers[0]>;
  const namespace = (name: string, labels?: Record<string, string>) => lab.kube.rest.create(resourcePath(CORE.namespaces), { metadata: { name, ...(labels && { labels }) } });
  await namespace(OWNER);
  await namespace('team-a');
  await namespace('team-b', { [SHARED_LABEL]: 'true' });
  await namespace('team-c');
  await applySgc(lab, OWNER, 'shared', { gatewayNodepoolName: 'gwpool', allowedNamespaces: { names: ['team-a'], selector: { matchLabels: { [SHARED_LABEL]: 'true' } } } });
  const sgc = await waitSgcReady(lab, OWNER, 'shared');
  const prefix = sgc.status?.egressIpPrefix as string;
  const sgcRef = `${OWNER}/shared`;

  // Pod names are unique across namespaces: the lab names a pod's netns after the pod alone.
  const a = await createPod(lab, w, { namespace: 'team-a', name: 'app-a', sgc: sgcRef });
  const b = await createPod(lab, w, { namespace: 'team-b', name: 'app-b', sgc: sgcRef });
  const ipA = await waitEgress(lab, a);
  const ipB = await waitEgress(lab, b);
  t.ok(inPrefix(ipA, prefix), `team-a (listed by name) egresses from ${ipA}, inside ${prefix}`);
  t.ok(inPrefix(ipB, prefix), `team-b (matched by label) egresses from ${ipB}, inside the same prefix`);

  const refused = await createPod(lab, w, { namespace: 'team-c', name: 'app-c', sgc: sgcRef }).then(() => 'wired', (err: Error) => err.message);
  t.match(refused, /namespace team-c may not use StaticGatewayConfiguration egress\/shared/, 'a third namespace is refused at ADD, with the reason');
  const event = await until('the refusal event on the Pod', async () => {
    const events = (await lab.kube.rest.get<{ items: { reason: string; involvedObject: { name: string } }[] }>(resourcePath(CORE.events, 'team-c'))).items;
    return events.find((e) => e.reason === 'NamespaceNotAllowed');
  }, 10_000);
  t.equal(event.involvedObject.name, 'app-c', 'and a NamespaceNotAllowed event on its Pod');

  await lab.kube.rest.patch(resourcePath(RESOURCES[KINDS.StaticGatewayConfiguration], OWNER, 'shared'), { spec: { allowedNamespaces: { names: [] } } }, 'merge');
  const later = await createPod(lab, w, { namespace: 'team-a', name: 'later', sgc: sgcRef }).then(() => 'wired', (err: Error) => err.message);
  t.match(later, /namespace team-a may not use/, 'removed from the list: a new pod of team-a is refused');
  t.ok(inPrefix(await egressIp(lab, a), prefix), 'its running pod keeps egressing from the prefix until it restarts');
  t.ok(inPrefix(await egressIp(lab, b), prefix), 'team-b, still selected, is unaffected');

  t.same(await rbacDenials(lab), [], 'no part was refused by the chart\'s RBAC');
});
