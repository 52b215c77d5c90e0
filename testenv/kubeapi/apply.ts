import { KubeConfig } from '@kubernetes/client-node';
import { writeFileSync } from 'node:fs';
import { KegError } from '../../lib/errors.ts';
import type { KubeRest } from '../../lib/kube/rest.ts';

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}

/** Collections of the kinds a chart renders: plural, and whether namespaced. */
const KINDS: Record<string, [plural: string, namespaced: boolean]> = {
  Namespace: ['namespaces', false],
  ServiceAccount: ['serviceaccounts', true],
  Secret: ['secrets', true],
  ConfigMap: ['configmaps', true],
  Service: ['services', true],
  ClusterRole: ['clusterroles', false],
  ClusterRoleBinding: ['clusterrolebindings', false],
  Role: ['roles', true],
  RoleBinding: ['rolebindings', true],
  Deployment: ['deployments', true],
  DaemonSet: ['daemonsets', true],
  PodDisruptionBudget: ['poddisruptionbudgets', true],
  CustomResourceDefinition: ['customresourcedefinitions', false],
  MutatingAdmissionPolicy: ['mutatingadmissionpolicies', false],
  MutatingAdmissionPolicyBinding: ['mutatingadmissionpolicybindings', false],
  ValidatingAdmissionPolicy: ['validatingadmissionpolicies', false],
  ValidatingAdmissionPolicyBinding: ['validatingadmissionpolicybindings', false],
};

export function objectPath(obj: Obj): string {
  const kind = KINDS[obj.kind];
  if (!kind) throw new KegError('UNKNOWN_KIND', `no REST path known for kind ${obj.kind}`);
  const [plural, namespaced] = kind;
  const base = obj.apiVersion.includes('/') ? `/apis/${obj.apiVersion}` : `/api/${obj.apiVersion}`;
  if (namespaced && !obj.metadata.namespace) throw new KegError('NO_NAMESPACE', `${obj.kind} ${obj.metadata.name} has no namespace`);
  const ns = namespaced ? `/namespaces/${obj.metadata.namespace}` : '';
  return `${base}${ns}/${plural}/${obj.metadata.name}`;
}

/**
 * Server-side applies each object, as `kubectl apply --server-side` does; with
 * dryRun the apiserver validates and admits it (schema, defaulting, RBAC
 * escalation checks) and stores nothing.
 */
export async function applyObjects(rest: KubeRest, objects: Obj[], opts: { dryRun?: boolean } = {}): Promise<void> {
  for (const obj of objects) {
    const query = { fieldManager: 'keg-test', force: true, fieldValidation: 'Strict', ...(opts.dryRun ? { dryRun: 'All' } : {}) };
    try {
      await rest.patch(objectPath(obj), obj, 'apply', { query });
    } catch (err) {
      throw new KegError('APPLY_FAILED', `${obj.kind} ${obj.metadata.namespace ?? ''}/${obj.metadata.name}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/**
 * A token of a ServiceAccount (TokenRequest), as the kubelet mounts into its
 * pods. Bound to `pod` when given: valid while that Pod exists, and, for a
 * Pod scheduled on a node, carrying the node's name
 * (userInfo.extra['authentication.kubernetes.io/node-name']).
 */
export async function serviceAccountToken(
  rest: KubeRest, namespace: string, name: string, seconds = 86_400, pod?: { name: string; uid: string },
): Promise<string> {
  const path = `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`;
  const boundObjectRef = pod && { apiVersion: 'v1', kind: 'Pod', ...pod };
  const { status } = await rest.create<{ status: { token: string } }>(path, { spec: { expirationSeconds: seconds, ...(boundObjectRef && { boundObjectRef }) } });
  return status.token;
}

/**
 * A kubeconfig that authenticates with `token` against the cluster of `admin`
 * (optionally at another server URL), written owner-only to `file`.
 */
export function writeTokenKubeconfig(admin: KubeConfig, token: string, file: string, opts: { user: string; server?: string }): KubeConfig {
  const kc = tokenKubeconfig(admin, token, opts);
  writeFileSync(file, kc.exportConfig(), { mode: 0o600 });
  return kc;
}

/** A kubeconfig, in memory, that authenticates with `token` at the admin kubeconfig's cluster (or at `server`). */
export function tokenKubeconfig(admin: KubeConfig, token: string, opts: { user: string; server?: string }): KubeConfig {
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error('no current cluster in the admin kubeconfig');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ ...cluster, name: 'keg', server: opts.server ?? cluster.server }],
    users: [{ name: opts.user, token }],
    contexts: [{ name: opts.user, cluster: 'keg', user: opts.user }],
    currentContext: opts.user,
  });
  return kc;
}
