import t from 'tap';
import type { Lab } from '../lab/lab.ts';
import { installChartIdentities } from '../testenv/helm/accounts.ts';
import { startTestKube } from '../testenv/kubeapi/index.ts';
import { rbacDenials } from './fixture.ts';

/** A refusal as a part logs it: the apiserver's message inside a JSON log line. */
const refused = (what: string) => JSON.stringify({ level: 'warn', msg: 'request failed', error: `GET /x: 403 Forbidden: ${what}` });

t.test('only refusals the chart\'s RBAC still makes are findings', async (t) => {
  const kube = await startTestKube(t);
  await installChartIdentities(kube);
  const sa = 'system:serviceaccount:kube-egress-gateway-system:kube-egress-gateway-operator';
  const lines = [
    refused(`leases.coordination.k8s.io "x" is forbidden: User "${sa}" cannot get resource "leases" in API group "coordination.k8s.io" in the namespace "kube-egress-gateway-system"`),
    refused(`secrets is forbidden: User "${sa}" cannot list resource "secrets" in API group "" at the cluster scope`),
    refused(`staticgatewayconfigurations.egressgateway.kubernetes.azure.com "a" is forbidden: User "${sa}" cannot patch resource "staticgatewayconfigurations/status" in API group "egressgateway.kubernetes.azure.com" in the namespace "default"`),
    'something forbidden, in a form nobody parses',
    '{"level":"info","msg":"fine"}',
  ];
  const lab = { gateways: [], workers: [], kube, procs: { logTail: (name: string) => (name === 'operator' ? lines.join('\n') : '') } } as unknown as Lab;
  const found = await rbacDenials(lab);
  t.equal(found.length, 2, found.join('\n'));
  t.match(found[0], /cannot list resource \\"secrets\\"/, 'a permission the chart lacks is reported');
  t.match(found[1], /in a form nobody parses/, 'an unparsed refusal is reported, not dropped');
});
