/**
 * Test harness for the operator: a real apiserver (startTestKube) and the ARM
 * emulator, seeded like an AKS cluster, plus helpers to run the operator in
 * process and to wait for SGCs. Shared by the operator's test files and the
 * benchmark; not part of the product.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_VERSION, AZURE_TAG_POOL_NAME, AZURE_TAG_PREFIX_SIZE, KINDS } from '../lib/api/constants.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import { StaticGatewayConfigurationSchema, parseObject, type StaticGatewayConfiguration } from '../lib/api/v1alpha1.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import { createRegistry, type Registry } from '../lib/metrics.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { isNotFound, type KubeRest } from '../lib/kube/rest.ts';
import { startArmEmulator, type ArmEmulator } from '../testenv/azure/arm/index.ts';
import { startTestKube, type TestKube } from '../testenv/kubeapi/index.ts';
import { installChartIdentities, partKubeconfig } from '../testenv/helm/accounts.ts';
import type { Teardown } from '../testenv/netns.ts';
import { Azure, type AzureTuning } from './azure/client.ts';
import { parseCloudConfig, type CloudConfig } from './config.ts';
import { Controller } from './controller.ts';
import { until } from '../testenv/wait.ts';

export const OPERATOR_NS = 'kube-egress-gateway-system';
export const RG = 'aks-nodes';
export const POOL = 'gwpool';
export const POOL_VMSS = 'aks-gwpool-12345678-vmss';

export interface World {
  kube: TestKube;
  emu: ArmEmulator;
  configPath: string;
  config: CloudConfig;
  dir: string;
}

export function cloudConfigJson(emu: ArmEmulator, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cloud: 'AzurePublicCloud', tenantId: emu.tenantId, subscriptionId: emu.subscriptionId, resourceGroup: RG, location: emu.location,
    vnetName: 'keg-vnet', vnetResourceGroup: 'keg-network', subnetName: 'default',
    aadClientId: 'operator-client', aadClientSecret: 'test-client-secret-value',
    resourceManagerEndpoint: emu.endpoint, activeDirectoryAuthorityHost: emu.endpoint, caCertFile: emu.caPath,
    ...extra,
  };
}

/** An apiserver, the emulator with an AKS-like node pool VMSS of 2 instances, and a cloud config file. */
export async function startWorld(t: Teardown, opts: { instances?: number; prefixSize?: number } = {}): Promise<World> {
  const kube = await startTestKube(t);
  const emu = await startArmEmulator();
  t.teardown(() => emu.stop());
  emu.addResourceGroup(RG);
  emu.addVmss({ resourceGroup: RG, name: POOL_VMSS, instances: opts.instances ?? 2, tags: { [AZURE_TAG_POOL_NAME]: POOL, [AZURE_TAG_PREFIX_SIZE]: String(opts.prefixSize ?? 30) } });
  await kube.rest.create(resourcePath(CORE.namespaces), { metadata: { name: OPERATOR_NS } });
  const dir = mkdtempSync(join(tmpdir(), 'keg-operator-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const configPath = join(dir, 'azure.json');
  const json = cloudConfigJson(emu);
  writeFileSync(configPath, JSON.stringify(json), { mode: 0o600 });
  return { kube, emu, configPath, config: parseCloudConfig(JSON.stringify(json), configPath), dir };
}

export interface RunningOperator {
  controller: Controller;
  registry: Registry;
  logs: string[];
  stop(): Promise<void>;
}

/** Runs the reconcilers in this process (fast LRO polling); stopped in teardown. */
export async function startOperator(t: Teardown, w: World, opts: { vmRequeueMs?: number; tuning?: AzureTuning; log?: Logger; batchDelayMs?: number; rest?: KubeRest; namespace?: string; statusNamespace?: string; peerCountIntervalMs?: number } = {}): Promise<RunningOperator> {
  const logs: string[] = [];
  const log = opts.log ?? createLogger({ level: 'debug', write: (l) => logs.push(l) });
  const registry = createRegistry('operator', { processMetrics: false });
  const stopper = new AbortController();
  const azure = new Azure({ config: w.config, registry, log, signal: stopper.signal, pollIntervalMs: 50, retryBaseDelayMs: 100, ...opts.tuning });
  const controller = new Controller({ rest: opts.rest ?? w.kube.rest, azure, log, registry, namespace: opts.namespace ?? OPERATOR_NS, vmRequeueMs: opts.vmRequeueMs ?? 600_000, batchDelayMs: opts.batchDelayMs ?? 100, userErrorRetryMs: 2_000, ...(opts.statusNamespace !== undefined && { statusNamespace: opts.statusNamespace }), ...(opts.peerCountIntervalMs !== undefined && { peerCountIntervalMs: opts.peerCountIntervalMs }) });
  await controller.start();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    stopper.abort();
    await controller.stop();
  };
  t.teardown(stop);
  return { controller, registry, logs, stop };
}

/** Polls until `probe` yields a value (testenv/wait.ts), every 100 ms. */
export function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  return until(what, probe, timeoutMs, 100);
}

export function sgcPath(namespace: string, name?: string): string {
  return resourcePath(RESOURCES.StaticGatewayConfiguration, namespace, name);
}

export async function createSgc(rest: KubeRest, namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  await rest.create(sgcPath(namespace), { apiVersion: API_VERSION, kind: KINDS.StaticGatewayConfiguration, metadata: { name, namespace }, spec });
}

export async function getSgc(rest: KubeRest, namespace: string, name: string): Promise<StaticGatewayConfiguration | undefined> {
  try {
    return parseObject(StaticGatewayConfigurationSchema, await rest.get(sgcPath(namespace, name)));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Waits until the SGC's Ready condition has `status` (for its current generation) and returns the SGC. */
export function waitReady(rest: KubeRest, namespace: string, name: string, status: 'True' | 'False' = 'True', timeoutMs = 60_000, reason?: string): Promise<StaticGatewayConfiguration> {
  return waitFor(`SGC ${namespace}/${name} Ready=${status}${reason ? ` (${reason})` : ''}`, async () => {
    const sgc = await getSgc(rest, namespace, name);
    const c = sgc?.status?.conditions?.find((x) => x.type === 'Ready');
    if (!sgc || c?.status !== status || c.observedGeneration !== sgc.metadata.generation) return undefined;
    if (reason && c.reason !== reason) return undefined;
    return sgc;
  }, timeoutMs);
}

export async function deleteSgcAndWait(rest: KubeRest, namespace: string, name: string, timeoutMs = 60_000): Promise<void> {
  await rest.delete(sgcPath(namespace, name)).catch((err: unknown) => {
    if (!isNotFound(err)) throw err;
  });
  await waitFor(`SGC ${namespace}/${name} gone`, async () => (await getSgc(rest, namespace, name)) === undefined, timeoutMs);
}

/** ARM writes in the emulator's request log (LRO polls and reads excluded). */
export function armWrites(emu: ArmEmulator): { method: string; operation: string; status: number }[] {
  return emu.requests().filter((r) => r.method === 'PUT' || r.method === 'PATCH' || r.method === 'DELETE' || (r.method === 'POST' && !r.operation.includes('token')));
}

/**
 * Installs the chart's ServiceAccounts and RBAC and returns a kubeconfig that
 * authenticates as the operator's ServiceAccount, so a test proves the
 * shipped permissions are enough. The operator must then keep its key
 * Secrets in KEY_SECRET_NAMESPACE (--secret-namespace), as the chart runs it.
 */
export async function operatorKubeconfig(w: World): Promise<string> {
  await installChartIdentities(w.kube);
  const file = join(w.dir, 'operator.kubeconfig');
  await partKubeconfig(w.kube, 'operator', file);
  return file;
}
