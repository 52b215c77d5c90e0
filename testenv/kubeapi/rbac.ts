import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import type { TestKube } from './server.ts';

const RBAC_PATHS: Record<string, (ns: string) => string> = {
  ServiceAccount: (ns) => `/api/v1/namespaces/${ns}/serviceaccounts`,
  ClusterRole: () => '/apis/rbac.authorization.k8s.io/v1/clusterroles',
  ClusterRoleBinding: () => '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
  Role: (ns) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`,
  RoleBinding: (ns) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`,
};

/**
 * Applies the ServiceAccount and RBAC objects of a shipped manifest and
 * writes a kubeconfig (into `dir`) that authenticates as that ServiceAccount,
 * so a test proves the shipped permissions are enough.
 */
export async function serviceAccountKubeconfig(kube: TestKube, manifest: string, sa: { namespace: string; name: string }, dir: string): Promise<string> {
  for (const doc of parseAllDocuments(readFileSync(manifest, 'utf8'))) {
    const obj = doc.toJS() as { kind: string; metadata: { namespace?: string } };
    const path = RBAC_PATHS[obj.kind];
    if (path) await kube.rest.create(path(obj.metadata.namespace ?? ''), obj);
  }
  const tokenPath = `/api/v1/namespaces/${sa.namespace}/serviceaccounts/${sa.name}/token`;
  const { status } = await kube.rest.create<{ status: { token: string } }>(tokenPath, { spec: { expirationSeconds: 3600 } });
  const cluster = kube.kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('no cluster in the test kubeconfig');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ ...cluster, name: 'test' }],
    users: [{ name: sa.name, token: status.token }],
    contexts: [{ name: sa.name, cluster: 'test', user: sa.name }],
    currentContext: sa.name,
  });
  const file = join(dir, `${sa.name}.kubeconfig`);
  writeFileSync(file, kc.exportConfig(), { mode: 0o600 });
  return file;
}
