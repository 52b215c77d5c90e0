import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage, IMAGE_REF } from '../image/build.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { CHART_DIR, helmWithValues } from '../testenv/helm/chart.ts';
import { applyObjects } from '../testenv/kubeapi/apply.ts';
import { until } from '../testenv/wait.ts';
import type { Lab } from './lab.ts';
import type { RealNode } from './realnode.ts';
import { SYSTEM_NAMESPACE } from './kube-objects.ts';
import { labCloudConfig } from './parts.ts';
import { ARM_ENDPOINT_IP, ONPREM_CIDR } from './plan.ts';

/*
 * The product installed on real nodes as users install it: the image that
 * `npm run image` builds, imported into every node's containerd (there is no
 * registry), and `helm install` of the chart. The operator then runs as a
 * Deployment (a pod on a worker, reaching ARM on the VNet), the gateway
 * daemon and the node agent as DaemonSets.
 */

export const RELEASE = 'kube-egress-gateway';
/** The image as the chart names it with common.imageRepository=localhost. */
export const PRODUCT_IMAGE = `localhost/${IMAGE_REF}`;
const CLOUD_CONFIG_SECRET = 'lab-azure-cloud-config';
/** Where the operator's pod finds the emulator's CA: a second key of the cloud config Secret, mounted beside it. */
const CA_KEY = 'arm-ca.pem';
/** The conflist the agent writes (the chart's gatewayCNIManager.cniConfigFileName). */
export const OWN_CONFLIST = '01-egressgateway.conflist';

/**
 * Values for the lab: the locally imported image, the cloud config Secret the
 * lab writes (the emulator's CA beside the config), one operator replica, and
 * gateways that drain within two probe intervals of the lab's ILB. Everything
 * else, node directories included, is the chart's AKS default.
 */
export function labValues(lab: Lab): object {
  return {
    common: { imageRepository: 'localhost' },
    config: { cloudConfigSecret: { create: false, name: CLOUD_CONFIG_SECRET } },
    gatewayControllerManager: { replicas: 1 },
    gatewayDaemonManager: {
      drainSeconds: Math.ceil((lab.probeIntervalMs * 2) / 1000),
      // As an installation whose private-mode gateways egress on-premises allows it.
      tunnelFilter: { allowCidrs: [ONPREM_CIDR] },
    },
  };
}

/** Runs helm against the lab's apiserver as admin, as a cluster admin installs the chart. */
export function helm(lab: Lab, args: string[], values?: object): Promise<string> {
  return helmWithValues([...args, '--kubeconfig', lab.kube.kubeconfigPath, '--namespace', SYSTEM_NAMESPACE], values);
}

/** Builds the image if it is out of date, imports it into every real node, and installs the chart. */
export async function installProduct(lab: Lab, values: object = labValues(lab)): Promise<void> {
  if (lab.realNodes.length === 0) throw new Error('installProduct needs a lab with real nodes');
  await importProductImage(lab, PRODUCT_IMAGE);
  // ARM_ENDPOINT_PORT is https' default, so the URL names no port: MSAL refuses an authority whose
  // explicit :443 differs from the issuer's host in the metadata.
  const config = labCloudConfig(lab, `https://${ARM_ENDPOINT_IP}`, `/azure/config/${CA_KEY}`);
  const secret = {
    apiVersion: 'v1', kind: 'Secret', metadata: { name: CLOUD_CONFIG_SECRET, namespace: SYSTEM_NAMESPACE },
    stringData: { 'azure-cloud-config.json': JSON.stringify(config), [CA_KEY]: readFileSync(lab.arm.caPath, 'utf8') },
  };
  await applyObjects(lab.kube.rest, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: SYSTEM_NAMESPACE } }, secret]);
  lab.log.info('helm install');
  await helm(lab, ['install', RELEASE, CHART_DIR], values);
}

/** Builds the image if it is out of date and imports it into every real node under `name`. */
async function importProductImage(lab: Lab, name: string): Promise<void> {
  lab.log.info('building the product image (npm run image)');
  const { archive } = await buildImage({ log: lab.log });
  await Promise.all(lab.realNodes.map((node) => node.importImages([{ name, archive, indexOnly: true }])));
}

/**
 * `helm upgrade` to the image under another tag (the same archive: what
 * matters is that every pod template changes, as in a release), then until
 * every rollout is done.
 */
export async function upgradeProduct(lab: Lab, tag: string): Promise<void> {
  await importProductImage(lab, `localhost/${IMAGE_REF.slice(0, IMAGE_REF.lastIndexOf(':'))}:${tag}`);
  lab.log.info('helm upgrade', { tag });
  await helm(lab, ['upgrade', RELEASE, CHART_DIR, '--reuse-values', '--set', `common.imageTag=${tag}`]);
  await waitProductReady(lab);
}

/** The wireguard-go processes of a real node (in its cgroup tree), by the device each serves. */
export function wireguardGoOf(node: RealNode): Map<string, number> {
  const found = new Map<string, number>();
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (!argv[0]?.endsWith('wireguard-go') || !readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(`${node.cgroupParent}/`)) continue;
      found.set(argv[argv[1] === '-f' ? 2 : 1] ?? '', Number(pid));
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

interface Workload {
  status?: { readyReplicas?: number; updatedReplicas?: number; replicas?: number; numberReady?: number; desiredNumberScheduled?: number; updatedNumberScheduled?: number; observedGeneration?: number };
  metadata: { generation?: number };
}

function appsPath(kind: string, name: string): string {
  return `/apis/apps/v1/namespaces/${SYSTEM_NAMESPACE}/${kind}/${RELEASE}-${name}`;
}

/**
 * Waits until the operator's Deployment has a ready replica of its current
 * template and no other, and each RollingUpdate DaemonSet runs its current
 * template, ready, on every node it targets.
 */
export async function waitProductReady(lab: Lab, timeoutMs = 180_000): Promise<void> {
  await until('the operator Deployment to be ready', async () => {
    const d = await lab.kube.rest.get<Workload>(appsPath('deployments', 'operator'));
    const st = d.status ?? {};
    return st.observedGeneration === d.metadata.generation && (st.readyReplicas ?? 0) >= 1 && st.updatedReplicas === st.replicas;
  }, timeoutMs, 500);
  for (const name of ['daemon', 'cni-manager']) {
    await until(`the ${name} DaemonSet to be ready`, async () => {
      const ds = await lab.kube.rest.get<Workload>(appsPath('daemonsets', name));
      const want = ds.status?.desiredNumberScheduled ?? 0;
      return want > 0 && ds.status?.numberReady === want && ds.status.updatedNumberScheduled === want && ds.status.observedGeneration === ds.metadata.generation;
    }, timeoutMs, 500);
  }
}

/**
 * The documented uninstall (docs/install-aks.md): the uninstall switch first,
 * so every agent takes its conflist out while it still runs, then `helm
 * uninstall`, then until the release's pods are gone from the nodes.
 */
export async function uninstallProduct(lab: Lab): Promise<void> {
  await helm(lab, ['upgrade', RELEASE, CHART_DIR, '--reuse-values', '--set', 'gatewayCNIManager.cniUninstall=true']);
  const ownConflists = lab.realNodes.filter((n) => !n.m.gateway).map((n) => join(n.cniDirs.confDir, OWN_CONFLIST));
  await until('every agent to take its conflist out', () => ownConflists.every((f) => !existsSync(f)), 90_000, 250);
  await helm(lab, ['uninstall', RELEASE]);
  await until('the release\'s pods to be gone', async () => {
    const pods = await lab.kube.rest.get<{ items: unknown[] }>(resourcePath(CORE.pods, SYSTEM_NAMESPACE), { query: { labelSelector: `app.kubernetes.io/instance=${RELEASE}` } });
    return pods.items.length === 0;
  }, 120_000, 500);
}

/**
 * A real node dies: its kubelet, containerd and containers stop, and its
 * link to the VNet goes down (lab.stop() later finds it stopped).
 */
export async function killRealNode(lab: Lab, node: RealNode): Promise<void> {
  await node.stop();
  await lab.runner.run(['ip', '-n', lab.machine(node.m.computerName).name, 'link', 'set', 'eth0', 'down']);
}
