import type { Logger } from '../../lib/log-line.ts';
import type { AgentClient } from './client.ts';
import type { MarkerStore } from './records.ts';
import type { CniEnv, NetConf } from './spec.ts';

/** Everything a verb works with; built once per invocation by run.ts. */
export interface PluginContext {
  env: CniEnv;
  conf: NetConf;
  log: Logger;
  agent: AgentClient;
  records: MarkerStore;
}

/** The pod's namespace and name from CNI_ARGS, when the runtime is Kubernetes. */
export function podRef(env: CniEnv): { namespace: string; name: string } | undefined {
  const namespace = env.args.K8S_POD_NAMESPACE;
  const name = env.args.K8S_POD_NAME;
  return namespace && name ? { namespace, name } : undefined;
}
