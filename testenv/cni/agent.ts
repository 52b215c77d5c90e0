import { existsSync } from 'node:fs';
import { ExecRunner, inNetns } from '../../lib/exec/runner.ts';
import type { TestKube } from '../kubeapi/index.ts';
import type { Teardown } from '../netns.ts';
import { type AgentDeps, runAgent } from '../../cni/manager/cmd.ts';
import { parseManagerFlags } from '../../cni/manager/flags.ts';
import type { CniLab } from './lab.ts';

export interface RunningAgent {
  stop(): Promise<void>;
}

/**
 * Runs the node agent in-process for a lab. Its network commands run in the
 * lab's node namespace, where a real agent's would run in the host's. Without
 * `install` the lab's conflist already chains the plugin; with it the agent
 * installs and chains the plugin into the lab's dirs (a lab made with
 * chained: false).
 */
export async function startAgent(t: Teardown, lab: CniLab, kube: TestKube, nodeName: string, extra: string[] = [], install = false, deps: Omit<AgentDeps, 'runner'> = {}): Promise<RunningAgent> {
  const flags = parseManagerFlags([
    `--kubeconfig=${kube.kubeconfigPath}`, `--node-name=${nodeName}`, `--socket=${lab.socket}`, `--state-dir=${lab.agentStateDir}`,
    '--metrics-bind-address=127.0.0.1:0', '--log-level=warn', '--probe-interval=3600s', '--imds-endpoint=', ...(install ? lab.installFlags() : ['--skip-install']), ...extra,
  ]);
  const ctl = new AbortController();
  const done = runAgent(flags, ctl.signal, { ...deps, runner: inNetns(new ExecRunner(), lab.node.path) });
  const stop = async (): Promise<void> => {
    ctl.abort();
    await done;
  };
  t.teardown(stop);
  await waitForSocket(lab.socket);
  return { stop };
}

async function waitForSocket(path: string): Promise<void> {
  for (let i = 0; i < 200 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 25));
}
