import { existsSync } from 'node:fs';
import { delimiter } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { describeError, errorCode, KegError } from '../lib/errors.ts';
import { KubeRest } from '../lib/kube/rest.ts';
import { type AgentAccess, execAccess } from './agent.ts';
import type { DoctorFlags } from './flags.ts';
import { gather } from './gather.ts';
import { renderJson, renderText } from './render.ts';
import { diagnose } from './verdict.ts';

/** Exit codes: 0 no problem found, 1 a problem found, 3 could not check (usage errors are 2, from the CLI). */
export const EXIT = { healthy: 0, problem: 1, cannotCheck: 3 } as const;

/**
 * $KUBECONFIG's files merged as kubectl merges them: the first file that
 * sets the current context, and the first definition of each name, win
 * (client-node's own merge lets later files win and refuses duplicates).
 */
function loadKubeconfigList(list: string): KubeConfig {
  const kc = new KubeConfig();
  for (const file of list.split(delimiter).filter((f) => f !== '' && existsSync(f))) {
    const next = new KubeConfig();
    next.loadFromFile(file);
    if (!kc.currentContext) kc.currentContext = next.currentContext;
    for (const c of next.clusters) if (!kc.getCluster(c.name)) kc.addCluster(c);
    for (const u of next.users) if (!kc.getUser(u.name)) kc.addUser(u);
    for (const c of next.contexts) if (!kc.getContextObject(c.name)) kc.addContext(c);
  }
  return kc;
}

/**
 * Credentials as kubectl finds them: --kubeconfig, else $KUBECONFIG (a
 * list of files, merged), else ~/.kube/config, else in-cluster.
 */
export function loadUserKubeConfig(path: string | undefined, context: string | undefined, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  let kc = new KubeConfig();
  if (path !== undefined) {
    if (!existsSync(path)) throw new KegError('KUBECONFIG_NOT_FOUND', `kubeconfig ${path} does not exist`);
    kc.loadFromFile(path);
  } else if (env.KUBECONFIG) {
    kc = loadKubeconfigList(env.KUBECONFIG);
  } else {
    kc.loadFromDefault();
  }
  if (context !== undefined) {
    if (kc.getContextObject(context) === null) throw new KegError('USAGE', `--context: no context ${context} in the kubeconfig`);
    kc.setCurrentContext(context);
  }
  if (!kc.getCurrentCluster()) throw new KegError('KUBECONFIG_INVALID', 'the kubeconfig has no current cluster');
  return kc;
}

/** `<namespace>/<pod>`, or a bare pod name in the context's namespace. */
export function parsePodArg(arg: string, kc: KubeConfig): { namespace: string; name: string } {
  const parts = arg.split('/');
  if (parts.length === 1 && arg !== '') return { namespace: kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default', name: arg };
  const [namespace = '', name = ''] = parts;
  if (parts.length !== 2 || namespace === '' || name === '') throw new KegError('USAGE', `"${arg}" is neither <namespace>/<pod> nor <pod>`);
  return { namespace, name };
}

export interface DoctorDeps {
  kc?: KubeConfig;
  /** How the node agent is asked; default: exec into its pod, as kubectl exec does. */
  agent?: AgentAccess;
  out?: (s: string) => void;
  err?: (s: string) => void;
}

/** `kube-egress-gateway doctor <namespace>/<pod>`. */
export async function doctor(flags: DoctorFlags, podArg: string, deps: DoctorDeps = {}): Promise<number> {
  const out = deps.out ?? ((s: string) => void process.stdout.write(s));
  const err = deps.err ?? ((s: string) => void process.stderr.write(s));
  let kc: KubeConfig;
  try {
    kc = deps.kc ?? loadUserKubeConfig(flags.kubeconfig, flags.context);
  } catch (e) {
    if (errorCode(e) === 'USAGE') throw e;
    err(`doctor: ${describeError(e)}\n`);
    return EXIT.cannotCheck;
  }
  const pod = parsePodArg(podArg, kc);
  try {
    const facts = await gather({
      rest: new KubeRest(kc), systemNamespace: flags['system-namespace'], agent: deps.agent ?? execAccess(kc),
      ...(flags.probe && flags['echo-url'] !== undefined && { probeUrl: flags['echo-url'] }),
    }, pod);
    const report = diagnose(facts);
    out(flags.output === 'json' ? renderJson(report) : renderText(report));
    return report.ok ? EXIT.healthy : EXIT.problem;
  } catch (e) {
    err(`doctor: cannot check ${pod.namespace}/${pod.name}: ${describeError(e)} [${errorCode(e)}]\n`);
    return EXIT.cannotCheck;
  }
}
