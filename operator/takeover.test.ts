/**
 * Taking over from the Go original (docs/install-aks.md): the operator starts
 * on what a cluster running the Go chart holds — the cloud config as the Go
 * chart renders it, mounted the way kubelet mounts a Secret, the Go
 * controller's expired Lease in the Go release's namespace, and a key Secret
 * the Go controller generated —
 * and carries on with all three.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gatewaySecretName } from '../lib/api/constants.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { PrivateKey } from '../lib/wireguard/keys.ts';
import { SECRET_LABEL_SGC_NAME, SECRET_LABEL_SGC_NAMESPACE } from './secret.ts';
import { OPERATOR_NS, POOL, cloudConfigJson, createSgc, getSgc, operatorKubeconfig, startWorld, waitReady } from './testing.ts';
import { KEY_SECRET_NAMESPACE } from '../testenv/helm/accounts.ts';

const BIN = fileURLToPath(new URL('./bin.ts', import.meta.url));
const GO_LEASE = '0a299682.microsoft.com';
/** The Go release's namespace, other than ours: the Lease is there. */
const GO_NS = 'go-egress-system';
const NS = 'default';
const b64 = (s: string) => Buffer.from(s).toString('base64');

interface Lease {
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

/**
 * The Go chart's file (sorted keys, `toJson | indent 4`, empty strings for
 * what is not set) in kubelet's Secret volume layout: the file name is a
 * symlink through `..data` into a timestamped directory.
 */
function mountGoCloudConfig(dir: string, values: Record<string, unknown>): string {
  const mount = join(dir, 'azure', 'config');
  const stamp = '..2026_11_29_05_00_00.000000001';
  mkdirSync(join(mount, stamp), { recursive: true });
  const rendered = `    ${JSON.stringify(Object.fromEntries(Object.entries(values).sort(([a], [b]) => (a < b ? -1 : 1))))}`;
  writeFileSync(join(mount, stamp, 'azure-cloud-config.json'), rendered, { mode: 0o600 });
  symlinkSync(stamp, join(mount, '..data'));
  symlinkSync('..data/azure-cloud-config.json', join(mount, 'azure-cloud-config.json'));
  return join(mount, 'azure-cloud-config.json');
}

t.test('the operator takes over from the Go controller', async (t) => {
  const w = await startWorld(t);
  const { rest } = w.kube;
  const emulator = cloudConfigJson(w.emu);
  const configPath = mountGoCloudConfig(w.dir, {
    ...emulator,
    // As the Go chart renders them: Go spellings, chart defaults, empty means unset.
    subscriptionId: '', subscriptionID: emulator.subscriptionId, loadBalancerResourceGroup: '', useManagedIdentityExtension: false,
    userAssignedIdentityID: '', userAgent: 'kube-egress-gateway-controller', gatewayLoadBalancerName: 'kubeegressgateway-ilb',
  });

  // The Go controller scaled to zero: its Lease is left as controller-runtime
  // last renewed it. A short duration keeps the test quick (Go's is 15 s).
  const stale = new Date(Date.now() - 3_600_000).toISOString().replace('Z', '000Z');
  await rest.create(resourcePath(CORE.namespaces), { metadata: { name: GO_NS } });
  await rest.create(resourcePath(CORE.leases, GO_NS), {
    metadata: { name: GO_LEASE, namespace: GO_NS },
    spec: { holderIdentity: 'kube-egress-gateway-controller-manager-5d8f7c9b4-x2x7q_0c6c7f5e-1b0e-4a4e-9a53-3f1c2d4e5f60', leaseDurationSeconds: 2, acquireTime: stale, renewTime: stale, leaseTransitions: 3 },
  });

  // The chart's RBAC and namespaces, the key namespace among them.
  const kubeconfig = await operatorKubeconfig(w);
  // An SGC the Go controller served, with the key Secret it generated, copied
  // into the key namespace as docs/install-aks.md asks (step 5).
  await createSgc(rest, NS, 'from-go', { gatewayNodepoolName: POOL });
  const uid = (await getSgc(rest, NS, 'from-go'))?.metadata.uid ?? '';
  const goKey = PrivateKey.generate();
  await rest.create(resourcePath(CORE.secrets, KEY_SECRET_NAMESPACE), {
    metadata: { name: gatewaySecretName(uid), namespace: KEY_SECRET_NAMESPACE, labels: { [SECRET_LABEL_SGC_NAMESPACE]: NS, [SECRET_LABEL_SGC_NAME]: 'from-go' } },
    data: { PrivateKey: b64(goKey.revealBase64()), PublicKey: b64(goKey.publicKey()) },
  });

  // What docs/install-aks.md asks for when the Lease is in another namespace.
  const rbac = '/apis/rbac.authorization.k8s.io/v1/namespaces/' + GO_NS;
  await rest.create(`${rbac}/roles`, { metadata: { name: 'go-lease' }, rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }] });
  await rest.create(`${rbac}/rolebindings`, {
    metadata: { name: 'go-lease' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'go-lease' },
    subjects: [{ kind: 'ServiceAccount', name: 'kube-egress-gateway-operator', namespace: OPERATOR_NS }],
  });
  const proc = spawn(process.execPath, [BIN, '--cloud-config', configPath, '--kubeconfig', kubeconfig, '--namespace', OPERATOR_NS,
    '--secret-namespace', KEY_SECRET_NAMESPACE, '--leader-elect', '--leader-election-id', GO_LEASE, '--leader-election-namespace', GO_NS, '--metrics-bind-address', '127.0.0.1:0', '--azure-poll-interval', '100ms', '--batch-delay', '50ms'],
  { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', resolve));
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    return exited;
  });

  const sgc = await waitReady(rest, NS, 'from-go', 'True', 90_000);
  t.equal(sgc.status?.gatewayServerProfile?.publicKey, goKey.publicKey(), "the Go controller's key pair is kept: pod tunnels keep their gateway key");

  const lease = (await rest.get<Lease>(resourcePath(CORE.leases, GO_NS, GO_LEASE))).spec;
  t.not(lease.holderIdentity, '', 'the Lease has a holder');
  t.notMatch(lease.holderIdentity, /controller-manager/, 'the holder is no longer the Go controller');
  t.equal(lease.leaseTransitions, 4, 'one more transition, counted on from controller-runtime');
  t.equal(lease.leaseDurationSeconds, 15);
  for (const time of [lease.acquireTime, lease.renewTime]) {
    t.match(time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'MicroTime, as client-go writes it');
    t.ok(Date.parse(time ?? '') > Date.parse(stale), 'taken now, not inherited');
  }

  await createSgc(rest, NS, 'new', { gatewayNodepoolName: POOL });
  const fresh = await waitReady(rest, NS, 'new', 'True', 90_000);
  const secret = await rest.get<{ metadata: { labels?: Record<string, string> } }>(resourcePath(CORE.secrets, KEY_SECRET_NAMESPACE, gatewaySecretName(fresh.metadata.uid ?? '')));
  t.equal(secret.metadata.labels?.[SECRET_LABEL_SGC_NAMESPACE], NS, 'new key Secrets carry the labels the Go controller watches by');
  t.equal(secret.metadata.labels?.[SECRET_LABEL_SGC_NAME], 'new');

  proc.kill('SIGTERM');
  t.equal(await exited, 0);
  t.notMatch(stderr, /CLOUD_CONFIG_INVALID|forbidden/i);
  const released = (await rest.get<Lease>(resourcePath(CORE.leases, GO_NS, GO_LEASE))).spec;
  await t.rejects(rest.get(resourcePath(CORE.leases, OPERATOR_NS, GO_LEASE)), { code: 'KUBE_NOTFOUND' }, 'no second Lease in our namespace');
  t.notOk(released.holderIdentity, 'released on shutdown, as controller-runtime does with LeaderElectionReleaseOnCancel');
});
