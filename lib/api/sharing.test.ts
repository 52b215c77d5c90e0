import t from 'tap';
import { formatSgcRef, namespaceAllowed, needsLabels, parseSgcRef } from './sharing.ts';
import { parseObject, StaticGatewayConfigurationSchema, type AllowedNamespaces } from './v1alpha1.ts';

const sgc = (allowedNamespaces?: AllowedNamespaces) => parseObject(StaticGatewayConfigurationSchema, {
  metadata: { name: 'gw', namespace: 'egress' },
  spec: { gatewayNodepoolName: 'pool', ...(allowedNamespaces && { allowedNamespaces }) },
});

t.test('annotation and PodEndpoint references', async (t) => {
  t.same(parseSgcRef('gw', 'team-a'), { namespace: 'team-a', name: 'gw' }, 'a bare name is the pod\'s own namespace (the Go original\'s form)');
  t.same(parseSgcRef('egress/gw', 'team-a'), { namespace: 'egress', name: 'gw' });
  for (const bad of ['/gw', 'egress/', 'a/b/c', 'Egress/gw', 'eg_ress/gw']) {
    t.throws(() => parseSgcRef(bad, 'team-a'), { code: 'SGC_REFERENCE_INVALID' }, bad);
  }
  t.equal(formatSgcRef({ namespace: 'team-a', name: 'gw' }, 'team-a'), 'gw', 'own namespace: the bare name, as the Go original wrote it');
  t.equal(formatSgcRef({ namespace: 'egress', name: 'gw' }, 'team-a'), 'egress/gw');
});

t.test('which namespaces may use an SGC', async (t) => {
  const own = { name: 'egress' };
  const teamA = { name: 'team-a', labels: { tier: 'web', 'egress.example.com/shared': 'true' } };
  const teamB = { name: 'team-b', labels: { tier: 'db' } };
  t.ok(namespaceAllowed(sgc(), own), 'its own namespace, always');
  t.notOk(namespaceAllowed(sgc(), teamA), 'no allow list: nobody else, exactly as the Go original');
  t.notOk(namespaceAllowed(sgc({}), teamA), 'an empty allow list: nobody else');
  t.ok(namespaceAllowed(sgc({ names: ['team-a'] }), { name: 'team-a' }), 'listed by name, no labels needed');
  t.notOk(namespaceAllowed(sgc({ names: ['team-a'] }), teamB));
  const bySelector = sgc({ selector: { matchLabels: { 'egress.example.com/shared': 'true' } } });
  t.ok(namespaceAllowed(bySelector, teamA), 'matched by labels');
  t.notOk(namespaceAllowed(bySelector, teamB));
  t.notOk(namespaceAllowed(bySelector, { name: 'team-a' }), 'labels unknown: not allowed');
  t.ok(namespaceAllowed(sgc({ selector: {} }), teamB), 'an empty selector matches every namespace, as in Kubernetes');
  t.ok(namespaceAllowed(sgc({ names: ['team-b'], selector: { matchLabels: { tier: 'web' } } }), teamB), 'names or selector: either is enough');
  const exprs = (operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist', values?: string[]) =>
    sgc({ selector: { matchExpressions: [{ key: 'tier', operator, ...(values && { values }) }] } });
  t.same([teamA, teamB, { name: 'c', labels: {} }].map((ns) => namespaceAllowed(exprs('In', ['web', 'api']), ns)), [true, false, false], 'In');
  t.same([teamA, teamB, { name: 'c', labels: {} }].map((ns) => namespaceAllowed(exprs('NotIn', ['web']), ns)), [false, true, true], 'NotIn');
  t.same([teamA, { name: 'c', labels: {} }].map((ns) => namespaceAllowed(exprs('Exists'), ns)), [true, false], 'Exists');
  t.same([teamA, { name: 'c', labels: {} }].map((ns) => namespaceAllowed(exprs('DoesNotExist'), ns)), [false, true], 'DoesNotExist');
  const both = sgc({ selector: { matchLabels: { tier: 'web' }, matchExpressions: [{ key: 'egress.example.com/shared', operator: 'Exists' }] } });
  t.same([teamA, { name: 'd', labels: { tier: 'web' } }].map((ns) => namespaceAllowed(both, ns)), [true, false], 'matchLabels and matchExpressions: all must hold');
});

t.test('the namespace is read only when its labels decide', async (t) => {
  t.notOk(needsLabels(sgc({ selector: {} }), 'egress'), 'own namespace');
  t.notOk(needsLabels(sgc({ names: ['team-a'] }), 'team-b'), 'no selector');
  t.notOk(needsLabels(sgc({ names: ['team-a'], selector: {} }), 'team-a'), 'listed by name');
  t.ok(needsLabels(sgc({ names: ['team-a'], selector: {} }), 'team-b'));
});
