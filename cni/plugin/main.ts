#!/usr/bin/env node
// kube-egress-cni: executed by the container runtime with CNI_* variables and
// the network configuration on stdin. stdout carries only the CNI answer.
// It runs no command: the node agent does the work that needs tools, so the
// host needs none. No top-level await: the single executable runs this
// bundled as CommonJS.
import { fstatSync, readSync } from 'node:fs';
import { startupSnapshot } from 'node:v8';
import { ANNOTATIONS_CAPABILITY, MAX_STDIN_BYTES, PLUGIN_TYPE } from './spec.ts';
import { run } from './run.ts';

/**
 * stdin, read synchronously: setting up process.stdin's stream costs every
 * run ~4 ms of CPU (measured in the single executable; docs/performance.md).
 * One byte over the limit is enough for the parser to refuse it. An unusable
 * stdin reads as empty, which the parser refuses with a CNI error.
 */
function readStdin(): string {
  // A terminal (someone running the plugin by hand) would block the read.
  if (fstatSync(0, { throwIfNoEntry: false })?.isCharacterDevice() !== false) return '';
  const chunks: Buffer[] = [];
  const buf = Buffer.allocUnsafe(64 * 1024);
  for (let size = 0; size <= MAX_STDIN_BYTES; ) {
    let n: number;
    try {
      n = readSync(0, buf);
    } catch (err) {
      // A stdin left non-blocking by the runtime may have nothing yet: wait, without spinning.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') break;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
      continue;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
    size += n;
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  const out = await run({ env: process.env, stdin: readStdin(), writeLog: (line) => process.stderr.write(line + '\n') });
  process.stdout.write(out.stdout);
  // Exits at once rather than when the loop drains (a kept-alive handle
  // cannot delay the answer). Writes to pipes and files are synchronous on
  // Linux, so the answer and the log lines are out.
  process.exit(out.exitCode);
}

/**
 * A plain pod's ADD in two versions, run while the snapshot is built: V8
 * compiles functions when first called, so without this every run would
 * compile the parsers and converters (zod's among them) again, ~5 ms. A plain
 * pod touches nothing: no marker, no agent.
 */
async function warmUp(): Promise<void> {
  const prevResult = { cniVersion: '', interfaces: [{ name: 'eth0', sandbox: '/var/run/netns/warm' }], ips: [{ address: '10.0.0.5/24', gateway: '10.0.0.1', interface: 0 }], routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }] };
  const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'warm', CNI_NETNS: '/var/run/netns/warm', CNI_IFNAME: 'eth0', CNI_ARGS: 'K8S_POD_NAMESPACE=warm;K8S_POD_NAME=warm' };
  for (const cniVersion of ['0.3.0', '1.1.0']) {
    const conf = { cniVersion, name: 'warm', type: PLUGIN_TYPE, prevResult: { ...prevResult, cniVersion }, runtimeConfig: { [ANNOTATIONS_CAPABILITY]: {} } };
    const out = await run({ env, stdin: JSON.stringify(conf), writeLog: () => {} });
    if (out.exitCode !== 0) throw new Error(`snapshot warm-up failed: ${out.stdout}`);
  }
}

// In the single executable every module above is already evaluated, and the
// plain-pod path compiled, in a V8 startup snapshot taken at build time; main
// runs when it is deserialized.
if (startupSnapshot.isBuildingSnapshot()) {
  void warmUp().then(() => startupSnapshot.setDeserializeMainFunction(() => void main()));
} else {
  void main();
}
