import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { KegError } from '../errors.ts';

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Loads credentials for the API server: the explicit --kubeconfig path, else
 * $KUBECONFIG, else the in-cluster service account. Nothing is guessed beyond
 * that, so a misconfigured pod fails at start with a message saying what was tried.
 */
export function loadKubeConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  const file = path ?? env.KUBECONFIG;
  if (file) {
    if (!existsSync(file)) throw new KegError('KUBECONFIG_NOT_FOUND', `kubeconfig ${file} does not exist`);
    kc.loadFromFile(file);
  } else if (env.KUBERNETES_SERVICE_HOST && existsSync(SERVICE_ACCOUNT_TOKEN)) {
    kc.loadFromCluster();
  } else {
    throw new KegError('KUBECONFIG_NOT_FOUND', 'no --kubeconfig, no $KUBECONFIG and not running in a cluster (no service account token)');
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new KegError('KUBECONFIG_INVALID', `kubeconfig ${file ?? '(in-cluster)'} has no current cluster`);
  // The client refuses plain HTTP on every request; left alone, the part
  // would retry that for ever as if the API server were down.
  if (cluster.server.startsWith('http:') && !cluster.skipTLSVerify) {
    throw new KegError('KUBECONFIG_INVALID', `kubeconfig ${file ?? '(in-cluster)'}: server ${cluster.server} is plain HTTP, which the client only allows with insecure-skip-tls-verify: true; use https`);
  }
  return kc;
}
