import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { KubeApiError, KubeRest } from '../lib/kube/rest.ts';
import { parseCommandLine } from '../lib/cli.ts';
import { PROGRAM_SPEC } from '../cmd/kube-egress-gateway.ts';
import { CHART_DIR, helmWithValues, renderChart, type KubeObject } from '../testenv/helm/chart.ts';
import { applyObjects, serviceAccountToken, writeTokenKubeconfig } from '../testenv/kubeapi/apply.ts';
import { startTestKube } from '../testenv/kubeapi/index.ts';

const NS = 'kube-egress-gateway-system';
const KEYS = 'kube-egress-gateway-keys';

/** A service-principal install with every per-part knob set. */
const TUNED = {
  common: { imageRepository: 'myregistry.azurecr.io/egress', imageTag: '9.9.9', logLevel: 'debug', gatewayLbProbePort: 8082 },
  config: { azureCloudConfig: { tenantId: 't', subscriptionId: 's', aadClientId: 'c', aadClientSecret: 'x', resourceGroup: 'rg', location: 'eastus', vnetName: 'v', subnetName: 'n' } },
  gatewayControllerManager: { replicas: 3, priorityClassName: 'system-cluster-critical', nodeSelector: { pool: 'system' }, tolerations: [{ key: 'CriticalAddonsOnly', operator: 'Exists' }], extraArgs: ['--batch-delay=500ms'], resources: { requests: { cpu: '10m', memory: '64Mi' } } },
  gatewayDaemonManager: { drainSeconds: 30, extraArgs: ['--netns-name=egw'] },
  gatewayCNIManager: { exceptionCidrs: ['10.0.0.0/8', '169.254.169.254/32'], cniConfDir: '/etc/cni/conf.d' },
};

/** A values file written for the Go chart (0.1.x), with workload identity on top and an existing cloud-config Secret. */
const GO_STYLE = {
  common: { imageRepository: 'mcr.microsoft.com/aks', imageTag: 'v0.1.8', gatewayLbProbePort: 8082 },
  gatewayControllerManager: { enabled: true, imageName: 'kube-egress-gateway-controller', imagePullPolicy: 'Always', replicas: 1, leaderElect: 'true', metricsBindPort: 8080, healthProbeBindPort: 8081, nodeSelector: {}, tolerations: [], podDisruptionBudget: { enabled: false } },
  gatewayCNIManager: { enabled: true, imageName: 'kube-egress-gateway-cnimanager', grpcServerPort: 50051, exceptionCidrs: [''], cniConfigFileName: '01-egressgateway.conflist', cniUninstallConfigMapName: 'cni-uninstall', cniUninstall: false, nodeSelector: { 'kubernetes.io/os': 'linux' }, tolerations: [] },
  gatewayDaemonManager: { enabled: true, imageName: 'kube-egress-gateway-daemon', metricsBindPort: 8080, healthProbeBindPort: 8081 },
  config: {
    cloudConfigSecret: { create: false },
    workloadIdentity: { enabled: true, clientId: '00000000-0000-0000-0000-000000000001' },
    azureCloudConfig: { cloud: 'AzurePublicCloud', tenantId: '', subscriptionId: 's', userAgent: 'kube-egress-gateway-controller', resourceGroup: 'rg', location: 'eastus', loadBalancerResourceGroup: '', vnetName: 'v', vnetResourceGroup: '', subnetName: 'n' },
  },
};

const find = (objs: KubeObject[], kind: string, suffix: string): KubeObject => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name.endsWith(suffix));
  if (!o) throw new Error(`no ${kind} *${suffix} in the rendered chart`);
  return o;
};
type Pod = { metadata: { labels: Record<string, string> }; spec: { containers: { image: string; args: string[] }[]; priorityClassName?: string; nodeSelector?: object } };
const podOf = (o: KubeObject): Pod => (o.spec as { template: Pod }).template;
const argsOf = (o: KubeObject): string[] => podOf(o).spec.containers[0]?.args ?? [];

/** The PodEndpoint admission policies among rendered objects. */
const policies = (objs: { kind: string }[]): number => objs.filter((o) => o.kind.endsWith('AdmissionPolicy')).length;

t.test('chart and image versions are the package version', async (t) => {
  const pkg = JSON.parse(readFileSync(join(CHART_DIR, '../../package.json'), 'utf8')) as { version: string };
  const chart = parse(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as { version: string; appVersion: string };
  t.equal(chart.appVersion, pkg.version);
  t.equal(chart.version, pkg.version);
});

t.test('helm lint is clean for every value set', async (t) => {
  for (const values of [{}, TUNED, GO_STYLE]) {
    const out = await helmWithValues(['lint', '--strict', CHART_DIR], values);
    t.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    t.notMatch(out, /\[(WARNING|ERROR)\]/);
  }
});

t.test('every RBAC rule says which call needs it', async (t) => {
  const dir = join(CHART_DIR, 'templates');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    const lines = readFileSync(join(dir, file), 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (/^\s*- apiGroups:/.test(line)) t.match(lines[i - 1], /^\s*#/, `${file}:${i + 1} has a comment`);
    });
  }
});

t.test('every rendered container\'s args parse with the CLI, for every value set', async (t) => {
  for (const values of [{}, TUNED, GO_STYLE]) {
    const objs = await renderChart(values);
    for (const [kind, suffix] of [['Deployment', '-operator'], ['DaemonSet', '-daemon'], ['DaemonSet', '-cni-manager']] as const) {
      const [command, ...args] = argsOf(find(objs, kind, suffix));
      const spec = PROGRAM_SPEC.subcommands?.find((s) => s.name === command);
      if (!spec) throw new Error(`${suffix}: no command ${String(command)}`);
      t.doesNotThrow(() => parseCommandLine(spec, args), `${suffix}: ${args.join(' ')}`);
    }
  }
});

t.test('what the values render', async (t) => {
  const def = await renderChart();
  const op = find(def, 'Deployment', '-operator');
  t.equal(podOf(op).spec.containers[0]?.image, 'kube-egress-gateway:0.1.0', 'image defaults to the appVersion');
  t.same(argsOf(op).slice(0, 7), ['operator', '--cloud-config=/azure/config/azure-cloud-config.json', `--namespace=${NS}`, `--secret-namespace=${KEYS}`, '--gateway-lb-probe-port=8082', '--leader-elect', '--leader-election-id=kube-egress-gateway-operator']);
  const secret = find(def, 'Secret', '-azure-cloud-config');
  t.equal(secret.metadata.name, 'kube-egress-gateway-azure-cloud-config', 'the Go chart\'s Secret name');
  const cfg = JSON.parse(Buffer.from((secret.data as Record<string, string>)['azure-cloud-config.json'] ?? '', 'base64').toString()) as object;
  t.same(cfg, { cloud: 'AzurePublicCloud', gatewayLoadBalancerName: 'kubeegressgateway-ilb', useManagedIdentityExtension: false }, 'empty strings left out');
  t.ok(find(def, 'Namespace', KEYS));
  t.notOk(argsOf(find(def, 'DaemonSet', '-cni-manager')).some((a) => a.startsWith('--exclude-cidrs')), 'the agent keeps its default exclusions');

  const tuned = await renderChart(TUNED);
  const top = find(tuned, 'Deployment', '-operator');
  t.equal(podOf(top).spec.containers[0]?.image, 'myregistry.azurecr.io/egress/kube-egress-gateway:9.9.9');
  t.equal(podOf(top).spec.priorityClassName, 'system-cluster-critical');
  t.same(podOf(top).spec.nodeSelector, { pool: 'system' });
  t.ok(argsOf(top).includes('--batch-delay=500ms') && argsOf(top).includes('--log-level=debug'));
  t.ok(argsOf(find(tuned, 'DaemonSet', '-daemon')).includes('--netns-name=egw'));
  t.ok(argsOf(find(tuned, 'DaemonSet', '-cni-manager')).includes('--exclude-cidrs=10.0.0.0/8,169.254.169.254/32'));

  const go = await renderChart(GO_STYLE);
  t.notOk(go.some((o) => o.kind === 'Secret'), 'an existing cloud-config Secret is referenced, not rendered');
  t.notOk(go.some((o) => o.kind === 'PodDisruptionBudget'));
  t.equal(find(go, 'ServiceAccount', '-operator').metadata.annotations?.['azure.workload.identity/client-id' as never], GO_STYLE.config.workloadIdentity.clientId);
  t.equal(podOf(find(go, 'Deployment', '-operator')).metadata.labels['azure.workload.identity/use'], 'true');
  t.ok(argsOf(find(go, 'Deployment', '-operator')).includes('--leader-elect'), 'the Go chart\'s leaderElect: "true"');
  t.notOk(argsOf(find(go, 'DaemonSet', '-cni-manager')).some((a) => a.startsWith('--exclude-cidrs')), 'the Go chart\'s [""] is no list');
  t.equal(podOf(find(go, 'Deployment', '-operator')).spec.containers[0]?.image, 'mcr.microsoft.com/aks/kube-egress-gateway:v0.1.8');

  await t.rejects(renderChart({}, { namespace: KEYS }), /keySecretNamespace must not be the release namespace/);
  await t.rejects(renderChart({ config: { workloadIdentity: { enabled: true } } }), /config.workloadIdentity.clientId is required/);
  await t.rejects(renderChart({ common: { logLevel: 'loud' } }), /\/common\/logLevel/, 'values.schema.json names a bad value');
  await t.rejects(renderChart({ gatewayCNIManager: { exceptionCidrs: ['10.0.0.0'] } }), /\/gatewayCNIManager\/exceptionCidrs\/0/);
  t.ok(policies(def) > 0, 'podEndpointPolicy auto: the PodEndpoint policies where the cluster serves MutatingAdmissionPolicy v1');
  t.equal(policies(await renderChart({}, { apiVersions: [] })), 0, 'and none on an older cluster, so the install still works there');
  t.equal(policies(await renderChart({ gatewayCNIManager: { podEndpointPolicy: false } })), 0, 'false: never');
  t.ok(policies(await renderChart({ gatewayCNIManager: { podEndpointPolicy: true } }, { apiVersions: [] })) > 0, 'true: always');
  const goLease = await renderChart({ gatewayControllerManager: { leaderElectionId: '0a299682.microsoft.com' } });
  t.ok(argsOf(find(goLease, 'Deployment', '-operator')).includes('--leader-election-id=0a299682.microsoft.com'), 'the Go controller\'s Lease name, for a takeover');
});

t.test('every value set passes a server-side dry-run apply', async (t) => {
  const kube = await startTestKube(t);
  for (const [name, values] of Object.entries({ defaults: {}, tuned: TUNED, goStyle: GO_STYLE })) {
    const objs = await renderChart(values);
    // As `helm install --create-namespace`: the namespaces exist before what lives in them.
    await applyObjects(kube.rest, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }, ...objs.filter((o) => o.kind === 'Namespace')]);
    await t.resolves(applyObjects(kube.rest, objs, { dryRun: true }), `${name}: ${objs.length} objects admitted`);
  }
  const stored = await kube.rest.get<{ items: unknown[] }>(`/apis/apps/v1/namespaces/${NS}/deployments`);
  t.same(stored.items, [], 'a dry run stores nothing');
});

t.test('helm install, upgrade and uninstall against a real apiserver', async (t) => {
  const kube = await startTestKube(t, { crds: false });
  const target = ['--kubeconfig', kube.kubeconfigPath, '--namespace', NS];
  await helmWithValues(['install', 'kube-egress-gateway', CHART_DIR, ...target, '--create-namespace'], TUNED);
  const deployment = `/apis/apps/v1/namespaces/${NS}/deployments/kube-egress-gateway-operator`;
  const image = async () => (await kube.rest.get<KubeObject>(deployment)).spec as { template: Pod };
  t.equal((await image()).template.spec.containers[0]?.image, 'myregistry.azurecr.io/egress/kube-egress-gateway:9.9.9', 'installed, CRDs first');
  const crds = await kube.rest.get<{ items: unknown[] }>('/apis/apiextensions.k8s.io/v1/customresourcedefinitions');
  t.equal(crds.items.length, 5, 'the chart installed the five CRDs');

  await helmWithValues(['upgrade', 'kube-egress-gateway', CHART_DIR, ...target], GO_STYLE);
  t.equal((await image()).template.spec.containers[0]?.image, 'mcr.microsoft.com/aks/kube-egress-gateway:v0.1.8', 'upgraded to the Go-style values');
  t.equal(await status(kube.rest, `/api/v1/namespaces/${NS}/secrets/kube-egress-gateway-azure-cloud-config`), 404, 'the rendered cloud config went with create: false');

  await helmWithValues(['uninstall', 'kube-egress-gateway', ...target]);
  t.equal(await status(kube.rest, deployment), 404, 'uninstalled');
  t.equal(await status(kube.rest, `/api/v1/namespaces/${KEYS}`), 200, 'the key namespace stays, with the key pairs in it');
});

/** GET as the given client; the HTTP status (200 or the error's). */
async function status(rest: KubeRest, path: string, method: 'get' | 'create' = 'get', body?: unknown): Promise<number> {
  try {
    await (method === 'get' ? rest.get(path) : rest.create(path, body));
    return 200;
  } catch (err) {
    if (err instanceof KubeApiError) return err.status;
    throw err;
  }
}

t.test('the chart\'s RBAC: the gateway reads key Secrets and nothing else', async (t) => {
  const kube = await startTestKube(t);
  const objs = await renderChart({ config: { azureCloudConfig: { subscriptionId: 's', aadClientSecret: 'do-not-leak' } } });
  await applyObjects(kube.rest, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }]);
  await applyObjects(kube.rest, objs.filter((o) => o.kind !== 'Deployment' && o.kind !== 'DaemonSet' && o.kind !== 'CustomResourceDefinition'));
  const key = { metadata: { name: 'sgw-0000' }, data: { PrivateKey: Buffer.from('k').toString('base64') } };
  await kube.rest.create(`/api/v1/namespaces/${KEYS}/secrets`, key);

  const as = async (sa: string): Promise<KubeRest> => {
    const token = await serviceAccountToken(kube.rest, NS, `kube-egress-gateway-${sa}`);
    return new KubeRest(writeTokenKubeconfig(kube.kubeConfig, token, join(kube.dir, `${sa}.kubeconfig`), { user: sa }));
  };
  const cloudConfig = `/api/v1/namespaces/${NS}/secrets/kube-egress-gateway-azure-cloud-config`;
  const keySecret = `/api/v1/namespaces/${KEYS}/secrets/sgw-0000`;
  const gateway = await as('daemon');
  t.equal(await status(gateway, cloudConfig), 403, 'the gateway is refused the cloud-config Secret');
  t.equal(await status(gateway, keySecret), 200, 'and reads a key Secret');
  t.equal(await status(gateway, `/api/v1/namespaces/${KEYS}/secrets`), 403, 'but cannot list them');
  t.equal(await status(gateway, `/api/v1/namespaces/default/secrets/anything`), 403);

  const agent = await as('cni-manager');
  t.equal(await status(agent, keySecret), 403, 'the node agent reads no Secret');
  t.equal(await status(agent, cloudConfig), 403);

  const operator = await as('operator');
  t.equal(await status(operator, cloudConfig), 403, 'the operator reads its cloud config from the mounted file, not the API');
  t.equal(await status(operator, `/api/v1/namespaces/${KEYS}/secrets`, 'create', { metadata: { name: 'sgw-1111' } }), 200, 'the operator writes key Secrets');
  t.equal(await status(operator, `/api/v1/namespaces/${NS}/secrets`, 'create', { metadata: { name: 'sgw-2222' } }), 403, 'only in the key namespace');
});

t.test('a gateway pod is started only once its own daemon serves the probe: its startupProbe checks the file --started-file names, in the pod\'s own emptyDir', async (t) => {
  type Container = { args: string[]; startupProbe?: { exec?: { command: string[] } }; volumeMounts: { name: string; mountPath: string }[] };
  const pod = podOf(find(await renderChart(), 'DaemonSet', '-daemon')) as unknown as { spec: { containers: Container[]; volumes: { name: string; emptyDir?: object }[] } };
  const c = pod.spec.containers[0] as Container;
  const file = c.args.find((a) => a.startsWith('--started-file='))?.slice('--started-file='.length) ?? '';
  t.same(c.startupProbe?.exec?.command, ['test', '-e', file], `the startupProbe checks ${file}`);
  const mount = c.volumeMounts.find((m) => file.startsWith(`${m.mountPath}/`));
  t.ok(pod.spec.volumes.find((v) => v.name === mount?.name)?.emptyDir, 'which no other pod can write');
});
