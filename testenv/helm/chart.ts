import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { ExecRunner } from '../../lib/exec/runner.ts';
import { createLogger } from '../../lib/log.ts';
import { resolveHelm } from './binaries.ts';

/** The chart users install; the lab and the tests render it rather than keep a copy. */
export const CHART_DIR = fileURLToPath(new URL('../../charts/kube-egress-gateway', import.meta.url));

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

let helm: Promise<string> | undefined;

/** helm, resolved once per process (`npm test` builds it beforehand). */
export function testHelm(): Promise<string> {
  helm ??= resolveHelm({ runner: new ExecRunner(), log: createLogger({ level: 'warn' }) });
  return helm;
}

/** Runs helm (with a values file written from `values`, if given), with a throwaway helm home; returns stdout. */
export async function helmWithValues(args: string[], values?: object): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'keg-helm-'));
  try {
    const file = join(dir, 'values.json');
    writeFileSync(file, JSON.stringify(values ?? {}));
    const withValues = values === undefined ? args : [...args, '--values', file];
    const { stdout } = await new ExecRunner().run([await testHelm(), ...withValues], { timeoutMs: 60_000, env: { HELM_CACHE_HOME: join(dir, 'cache'), HELM_CONFIG_HOME: join(dir, 'config'), HELM_DATA_HOME: join(dir, 'data') } });
    return stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * What the test apiserver (Kubernetes 1.36) serves beyond helm's built-in
 * list, as `helm install` would discover it: the chart's `auto` values
 * depend on it.
 */
const TEST_CLUSTER_API_VERSIONS = ['admissionregistration.k8s.io/v1/MutatingAdmissionPolicy'];

/**
 * `helm template` of the chart, CRDs included, as objects. Rendered for the
 * test apiserver's API versions unless `apiVersions` says otherwise.
 */
export async function renderChart(values: object = {}, opts: { namespace?: string; release?: string; apiVersions?: string[] } = {}): Promise<KubeObject[]> {
  const apiVersions = (opts.apiVersions ?? TEST_CLUSTER_API_VERSIONS).flatMap((v) => ['--api-versions', v]);
  const text = await helmWithValues(['template', opts.release ?? 'kube-egress-gateway', CHART_DIR,
    '--namespace', opts.namespace ?? 'kube-egress-gateway-system', '--include-crds', ...apiVersions], values);
  return parseAllDocuments(text).map((d) => d.toJS() as KubeObject | null).filter((o): o is KubeObject => o !== null);
}
