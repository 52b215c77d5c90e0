import { describeError } from '../../lib/errors.ts';
import { createLineLogger, type Logger } from '../../lib/log-line.ts';
import { add } from './add.ts';
import { check, CODE_DRIFT } from './check.ts';
import { AgentClient } from './client.ts';
import type { PluginContext } from './context.ts';
import { del } from './del.ts';
import { gc } from './gc.ts';
import { markerStore } from './records.ts';
import { type CniVersion, CniError, errorJson, isSupported, LATEST_VERSION, parseEnv, parseNetConf, versionJson, type WireNetConf } from './spec.ts';
import { checkVerb, decodeConf, encodeAddResult } from './versions.ts';

/** Plugin-specific CNI code for failures that are not one of the spec's. */
export const CODE_INTERNAL = 999;

export interface RunInput {
  env: NodeJS.ProcessEnv;
  stdin: string;
  /** Where log lines go (stderr in the executable); stdout is the protocol's alone. */
  writeLog: (line: string) => void;
}

export interface RunOutput {
  stdout: string;
  exitCode: number;
}

/** One plugin invocation: never throws, always answers in the spec's form. */
export async function run(input: RunInput): Promise<RunOutput> {
  let cniVersion: CniVersion = LATEST_VERSION;
  let log: Logger = createLineLogger({ level: 'warn', write: input.writeLog });
  try {
    const env = parseEnv(input.env);
    if (env.command === 'VERSION') return { stdout: versionJson(requestedVersion(input.stdin)), exitCode: 0 };
    const wire = parseNetConf(input.stdin);
    cniVersion = wire.cniVersion;
    checkVerb(env.command, cniVersion);
    const conf = decodeConf(wire, env.command);
    log = createLineLogger({ level: conf.logLevel, write: input.writeLog }).with({ component: 'kube-egress-cni', verb: env.command });
    const ctx: PluginContext = {
      env, conf, log,
      agent: new AgentClient(conf.socketPath),
      records: markerStore(conf.stateDir),
    };
    return { stdout: await dispatch(ctx, wire), exitCode: 0 };
  } catch (err) {
    const cniErr = toCniError(err);
    log.error('plugin call failed', { cniCode: cniErr.cniCode, err });
    return { stdout: errorJson(cniVersion, cniErr), exitCode: 1 };
  }
}

async function dispatch(ctx: PluginContext, wire: WireNetConf): Promise<string> {
  switch (ctx.env.command) {
    case 'ADD':
      return encodeAddResult(wire, ctx.conf, await add(ctx));
    case 'DEL':
      await del(ctx);
      return '';
    case 'CHECK': {
      const problems = await check(ctx);
      if (problems.length > 0) throw new CniError(CODE_DRIFT, `pod network drifted: ${problems.join('; ')}`);
      return '';
    }
    case 'GC':
      await gc(ctx);
      return '';
    default:
      // STATUS: the plugin can always serve plain pods, and annotated pods
      // get code 11 from ADD while the agent is away, so it reports ready
      // rather than stop the node from creating any pod.
      return '';
  }
}

/** VERSION answers in the version asked for when we speak it, else our latest. */
function requestedVersion(stdin: string): CniVersion {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return isSupported(v) ? v : LATEST_VERSION;
  } catch {
    return LATEST_VERSION;
  }
}

export function toCniError(err: unknown): CniError {
  if (err instanceof CniError) return err;
  return new CniError(CODE_INTERNAL, describeError(err), undefined, err);
}
