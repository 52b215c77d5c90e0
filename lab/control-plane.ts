import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { resolveNodeBinaries, type NodeBinaries } from '../testenv/realnode/binaries.ts';
import { labImages } from '../testenv/realnode/images.ts';
import type { Logger } from '../lib/log.ts';
import type { RealNodeAssets, RealNodeHost } from './realnode.ts';

/** The part of the lab the control plane needs. */
interface Host extends RealNodeHost {
  readonly dir: string;
  readonly log: Logger;
}

/**
 * What real nodes need before the first one starts: the binaries (built on
 * the first run) and the pause and test images as OCI archives in the lab
 * directory.
 */
export async function realNodeAssets(lab: Host, primaryCniVersion: string): Promise<RealNodeAssets> {
  const bins = await resolveNodeBinaries({ runner: lab.runner, log: lab.log });
  const dir = join(lab.dir, 'images');
  mkdirSync(dir, { recursive: true });
  const { pause, test } = await labImages(lab.runner, dir, bins);
  return { bins, images: [pause, test], sandboxImage: pause.name, primaryCniVersion };
}

/**
 * kube-controller-manager and kube-scheduler on the host, with the admin
 * kubeconfig, so Deployments, DaemonSets, ServiceAccounts and garbage
 * collection behave as in a cluster. The token controllers sign with the
 * apiserver's ServiceAccount key, and the root CA they publish
 * (kube-root-ca.crt) is the apiserver's self-signed certificate.
 */
export function startControlPlane(lab: Host, bins: NodeBinaries): void {
  const kube = lab.kube;
  const common = [`--kubeconfig=${kube.kubeconfigPath}`, '--leader-elect=false', '--secure-port=0', '--v=1'];
  lab.procs.start('kube-controller-manager', [bins.kubeControllerManager, ...common,
    '--controllers=*', `--service-account-private-key-file=${join(kube.dir, 'sa.key')}`,
    `--root-ca-file=${join(kube.dir, 'certs', 'apiserver.crt')}`, '--use-service-account-credentials=false',
    // Quick to notice a node that is gone, as the failover tests need.
    '--node-monitor-grace-period=20s',
  ]);
  lab.procs.start('kube-scheduler', [bins.kubeScheduler, ...common]);
}
