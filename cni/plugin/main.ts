#!/usr/bin/env node
// kube-egress-cni: executed by the container runtime with CNI_* variables and
// the network configuration on stdin. stdout carries only the CNI answer.
// It runs no command: the node agent does the work that needs tools, so the
// host needs none. No top-level await: the single executable runs this
// bundled as CommonJS.
import { startupSnapshot } from 'node:v8';
import { MAX_STDIN_BYTES } from './spec.ts';
import { run } from './run.ts';

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    chunks.push(chunk as Buffer);
    // One byte over the limit is enough for the parser to refuse it.
    if (size > MAX_STDIN_BYTES) break;
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  const out = await run({ env: process.env, stdin: await readStdin(), writeLog: (line) => process.stderr.write(line + '\n') });
  process.stdout.write(out.stdout);
  process.exitCode = out.exitCode;
}

// In the single executable every module above is already evaluated in a V8
// startup snapshot taken at build time; main runs when it is deserialized.
if (startupSnapshot.isBuildingSnapshot()) startupSnapshot.setDeserializeMainFunction(() => void main());
else void main();
