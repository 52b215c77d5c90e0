// The agent's install side against a real apiserver, authenticated as the
// agent's ServiceAccount with the chart's RBAC:
// chaining, the node taint, the uninstall ConfigMap and the metrics.
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CNI_NOT_READY_TAINT } from '../../lib/api/constants.ts';
import { loadKubeConfig } from '../../lib/kube/config.ts';
import { CORE, resourcePath } from '../../lib/kube/paths.ts';
import { KubeRest } from '../../lib/kube/rest.ts';
import { silentLogger } from '../../lib/log.ts';
import { createRegistry } from '../../lib/metrics.ts';
import { startTestKube } from '../../testenv/kubeapi/index.ts';
import { installChartIdentities, partKubeconfig } from '../../testenv/helm/accounts.ts';
import { until } from '../../testenv/wait.ts';
import { startChaining } from './chaining.ts';
import { parseManagerFlags } from './flags.ts';
import { agentMetrics } from './metrics.ts';
import { removeNotReadyTaint } from './taint.ts';
import { UninstallSwitch } from '../../lib/kube/uninstall-switch.ts';

const NS = 'kube-egress-gateway-system';
const AZURE = { cniVersion: '0.3.0', name: 'azure', plugins: [{ type: 'azure-vnet' }, { type: 'portmap', capabilities: { portMappings: true } }] };
const OTHER_TAINT = { key: 'example.com/dedicated', value: 'x', effect: 'NoSchedule' };

t.test('chained: taint removed once; uninstall ConfigMap takes the plugin out and back; refusals counted', async (t) => {
  const kube = await startTestKube(t);
  await installChartIdentities(kube);
  const kubeconfig = join(kube.dir, 'agent.kubeconfig');
  await partKubeconfig(kube, 'agent', kubeconfig);
  const nodePath = resourcePath(CORE.nodes, undefined, 'node-c');
  await kube.rest.create(resourcePath(CORE.nodes), {
    apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-c' },
    spec: { taints: [OTHER_TAINT, { key: CNI_NOT_READY_TAINT, value: 'true', effect: 'NoSchedule' }] },
  });
  const root = mkdtempSync(join(tmpdir(), 'keg-chaining-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const [conf, bin] = [join(root, 'net.d'), join(root, 'bin')];
  for (const d of [conf, bin]) mkdirSync(d);
  writeFileSync(join(root, 'plugin'), '#!/bin/true\n');
  writeFileSync(join(conf, '10-azure.conflist'), JSON.stringify(AZURE));

  const flags = parseManagerFlags([
    `--kubeconfig=${kubeconfig}`, '--node-name=node-c', `--cni-conf-dir=${conf}`, `--cni-bin-dir=${bin}`, `--plugin-binary=${join(root, 'plugin')}`,
    '--conflist-check-interval=200ms', `--namespace=${NS}`,
  ], {});
  const rest = new KubeRest(loadKubeConfig(kubeconfig));
  const registry = createRegistry('cni-manager-test');
  const metrics = agentMetrics(registry);
  const chaining = await startChaining(flags, rest, metrics, silentLogger);
  t.teardown(() => chaining.stop());
  const own = join(conf, '01-egressgateway.conflist');
  t.ok(existsSync(own), 'chained at start');
  t.ok(existsSync(join(bin, 'kube-egress-cni')), 'binary installed');
  // The apiserver's TaintNodesByCondition admission adds node.kubernetes.io/not-ready to a new node.
  const taints = async () => ((await kube.rest.get<{ spec: { taints?: { key: string }[] } }>(nodePath)).spec.taints ?? []).filter((x) => x.key !== 'node.kubernetes.io/not-ready');
  await until('the cni-not-ready taint to go', async () => (await taints()).length === 1, 10_000, 50);
  t.same(await taints(), [OTHER_TAINT], 'only our taint removed, the other kept');
  t.equal(await removeNotReadyTaint(rest, 'node-c'), false, 'idempotent: absent is success');
  const metric = async (name: string) => (await registry.getSingleMetricAsString(name)).split('\n').filter((l) => !l.startsWith('#')).join(' ');
  t.match(await metric('keg_cni_chained'), /keg_cni_chained{[^}]*} 1/);

  const cmPath = resourcePath(CORE.configMaps, NS);
  await kube.rest.create(cmPath, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cni-uninstall', namespace: NS }, data: { uninstall: 'true' } });
  await until('our conflist removed by the uninstall switch', () => !existsSync(own), 10_000, 50);
  t.match(await metric('keg_cni_chain_refusals_total'), /reason="uninstall"[^}]*} 1/);
  t.match(await metric('keg_cni_chained'), /keg_cni_chained{[^}]*} 0/);
  await kube.rest.patch(resourcePath(CORE.configMaps, NS, 'cni-uninstall'), { data: { uninstall: 'false' } });
  await until('chained again once the switch is cleared', () => existsSync(own), 10_000, 50);

  writeFileSync(join(conf, '10-azure.conflist'), JSON.stringify({ ...AZURE, cniVersion: '0.2.0' }));
  await until('unchained from a version the plugin cannot serve', () => !existsSync(own), 10_000, 50);
  t.match(await metric('keg_cni_chain_refusals_total'), /reason="version"[^}]*} 1/);
  t.same(await taints(), [OTHER_TAINT]);
});

t.test('the uninstall switch keeps its last answer while the API is away, and follows it again after; deleted while on, it stays on', async (t) => {
  const kube = await startTestKube(t);
  await installChartIdentities(kube);
  const kubeconfig = join(kube.dir, 'agent.kubeconfig');
  await partKubeconfig(kube, 'agent', kubeconfig);
  const cm = resourcePath(CORE.configMaps, NS, 'cni-uninstall');
  await kube.rest.create(resourcePath(CORE.configMaps, NS), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cni-uninstall', namespace: NS }, data: { uninstall: 'True ' } });
  let changes = 0;
  // As the chart's ServiceAccount: watching one ConfigMap by name is what its Role allows.
  const sw = new UninstallSwitch(new KubeRest(loadKubeConfig(kubeconfig)), NS, 'cni-uninstall', silentLogger);
  sw.subscribe(() => changes++);
  t.teardown(() => sw.stop());
  await sw.start(30_000);
  t.equal(sw.on, true, '"True " counts as true');
  t.equal(changes, 1, 'the change is reported');
  await kube.stopApiServer();
  await new Promise((r) => setTimeout(r, 1_000));
  t.equal(sw.on, true, 'last answer kept while the API is down');
  await kube.startApiServer();
  await until('the API to answer', () => kube.rest.get(cm).then(() => true, () => false), 60_000);
  await kube.rest.patch(cm, { data: { uninstall: 'false' } });
  await until('the switch to follow the ConfigMap', () => !sw.on, 60_000, 100);
  await kube.rest.delete(cm);
  await kube.rest.create(resourcePath(CORE.configMaps, NS), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cni-uninstall', namespace: NS }, data: { uninstall: 'true' } });
  await until('a recreated ConfigMap to count', () => sw.on, 30_000, 100);
  // helm uninstall deletes the ConfigMap while the agents still run: they must not chain themselves again.
  await kube.rest.delete(cm);
  await new Promise((r) => setTimeout(r, 2_000));
  t.equal(sw.on, true, 'deleted while on: stays on');
  t.equal(changes, 3, 'each change reported once');
});
