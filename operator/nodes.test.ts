// Scale-out and scale-in of a gateway pool without waiting for the drift
// requeue: the operator watches gateway Nodes (operator/nodes.ts).
import t from 'tap';
import { API_VERSION, GATEWAY_NODE_LABEL, KINDS } from '../lib/api/constants.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import type { GatewayVMConfiguration } from '../lib/api/v1alpha1.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { KubeRest, isNotFound } from '../lib/kube/rest.ts';
import { KEY_SECRET_NAMESPACE, partKubeconfig } from '../testenv/helm/accounts.ts';
import { AGENTPOOL_LABEL } from './nodes.ts';
import { OPERATOR_NS, POOL, POOL_VMSS, RG, createSgc, operatorKubeconfig, startOperator, startWorld, waitFor, waitReady } from './testing.ts';

const NS = 'default';
/** The bound for a node joining or leaving the pool. */
const BOUND_MS = 30_000;

t.test('a gateway node added or removed changes the pool within 30 s, with the drift requeue at 10 minutes', async (t) => {
  const w = await startWorld(t);
  // As the chart's ServiceAccount: the Node watch and the GatewayStatus deletion must be allowed by the shipped RBAC.
  await operatorKubeconfig(w);
  const kc = await partKubeconfig(w.kube, 'operator', `${w.dir}/op.kubeconfig`);
  const op = await startOperator(t, w, { rest: new KubeRest(kc), namespace: KEY_SECRET_NAMESPACE, statusNamespace: OPERATOR_NS, vmRequeueMs: 600_000 });
  const { rest } = w.kube;
  await createSgc(rest, NS, 'gw', { gatewayNodepoolName: POOL });
  await waitReady(rest, NS, 'gw', 'True', 90_000);
  const vmPath = resourcePath(RESOURCES.GatewayVMConfiguration, NS, 'gw');
  const nodeNames = async () => ((await rest.get<GatewayVMConfiguration>(vmPath)).status?.gatewayVMProfiles ?? []).map((p) => p.nodeName);
  t.same(await nodeNames(), [`${POOL_VMSS}000000`, `${POOL_VMSS}000001`]);

  const node = (name: string, pool: string) => rest.create(resourcePath(CORE.nodes), {
    metadata: { name, labels: { [GATEWAY_NODE_LABEL]: 'true', [AGENTPOOL_LABEL]: pool } },
  });
  const third = `${POOL_VMSS}000002`;
  const vmReconciles = async () => {
    const text = await op.registry.getSingleMetricAsString('keg_operator_reconcile_total');
    return [...text.matchAll(/controller="gatewayvmconfiguration"[^}]*\} (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
  };
  /** Waits until no VM reconcile ran for a second (each status write causes one more). */
  const settle = () => {
    let last = -1;
    return waitFor('reconciles to settle', async () => {
      const n = await vmReconciles();
      const done = n === last;
      last = n;
      await new Promise((r) => setTimeout(r, 1_000));
      return done;
    }, 30_000);
  };
  await settle();

  await t.test('scale-out: the instance appears in Azure, then its Node: in status within the bound', async (t) => {
    w.emu.scaleVmss(RG, POOL_VMSS, 3);
    // Nothing happens until the Node appears: the requeue is 10 minutes away.
    await new Promise((r) => setTimeout(r, 1_000));
    t.equal((await nodeNames()).length, 2, 'not seen before its Node exists');
    await node(third, POOL);
    await waitFor('the new node in status', async () => (await nodeNames()).includes(third), BOUND_MS);
    t.pass('listed with its secondary IP');
  });

  await t.test('scale-in: the instance and its Node go: out of status, its GatewayStatus deleted', async (t) => {
    const statusPath = resourcePath(RESOURCES.GatewayStatus, OPERATOR_NS, third);
    await rest.create(resourcePath(RESOURCES.GatewayStatus, OPERATOR_NS), { apiVersion: API_VERSION, kind: KINDS.GatewayStatus, metadata: { name: third }, spec: { nodeName: third } });
    w.emu.scaleVmss(RG, POOL_VMSS, 2);
    await rest.delete(resourcePath(CORE.nodes, undefined, third));
    await waitFor('the node out of status', async () => !(await nodeNames()).includes(third), BOUND_MS);
    await waitFor('its GatewayStatus deleted', () => rest.get(statusPath).then(() => false, (err: unknown) => isNotFound(err)), BOUND_MS);
    t.same(await nodeNames(), [`${POOL_VMSS}000000`, `${POOL_VMSS}000001`]);
  });

  await t.test('a node of another pool does not re-reconcile this gateway', async (t) => {
    await settle();
    const before = await vmReconciles();
    await node('aks-other-000000', 'other');
    await new Promise((r) => setTimeout(r, 1_000));
    t.equal(await vmReconciles(), before, 'no reconcile of the VM configuration');
    await node('aks-gwpool-000009', POOL);
    await waitFor('a node of this pool re-reconciles it', async () => (await vmReconciles()) > before, BOUND_MS);
  });
  t.notMatch(op.logs.join('\n'), /forbidden/i, 'no RBAC denial');
});
