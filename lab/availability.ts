// Gateway availability scenarios shared by the e2e tests and bench/gateway:
// the load balancer's view of its backends, and a long-lived TCP connection.
import { join } from 'node:path';
import { until } from '../testenv/wait.ts';
import type { LabPod } from './kubelet.ts';
import type { Lab } from './lab.ts';
import { ECHO_IP } from './plan.ts';
import { REPO } from './processes.ts';

/** The lab internet's line echo (gateway/testing/echo.ts): greets with `src <caller>`, then echoes lines. */
export const STREAM_PORT = 7777;
/** Each stream logs to a file of its own: a log appended to by an earlier stream would show its lines and its end. */
let streams = 0;

/** A long-lived TCP connection from the pod to the lab internet's line echo (gateway/testing/echo.ts), a line every 100 ms. */
export async function startStream(lab: Lab, pod: LabPod) {
  const name = `stream-${pod.name}-${++streams}`;
  await ensureLineEcho(lab);
  lab.procs.start(name, ['nsenter', `--net=${pod.netns.path}`, process.execPath, join(REPO, 'gateway/testing/echo.ts'), 'client', ECHO_IP, String(STREAM_PORT)]);
  const log = () => lab.procs.logTail(name, 1_000_000);
  return {
    echoed: () => log().split('\n').filter((l) => /^\d+$/.test(l)).length,
    closed: () => /closed|error/.test(log()),
    stop: () => lab.procs.stop(name),
  };
}

/** Starts the line echo on {@link STREAM_PORT} in the lab internet, unless it runs. */
export async function ensureLineEcho(lab: Lab): Promise<void> {
  if (lab.procs.get('tcp-echo')?.running) return;
  lab.procs.startScript('tcp-echo', lab.net.internet, 'gateway/testing/echo.ts', ['server', String(STREAM_PORT)]);
  await until('the line echo to listen', () => lab.procs.logTail('tcp-echo').includes('listening'), 30_000, 100);
}
