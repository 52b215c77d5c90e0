// Stages the image's own files as a root-relative tree: the Node runtime, the
// CLI bundle and the CNI executable. The Dockerfile copies that tree over its
// base, whether its builder stage ran this script or `npm run image` ran it on
// the host beforehand (then the build needs neither npm nor the network).
// Usage: node image/stage.ts --out DIR
import { chmodSync, mkdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { buildPlugin } from '../cni/build.ts';
import { KegError } from '../lib/errors.ts';
import type { CommandRunner } from '../lib/exec/runner.ts';
import { ExecRunner } from '../lib/exec/runner.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Inside the image; the CLI's shebang names it. */
export const NODE_PATH = '/usr/local/bin/node';
export const CLI_PATH = '/usr/local/bin/kube-egress-gateway';
/** The bundle CLI_PATH links to: `.mjs`, so Node loads it as ESM without guessing. */
export const BUNDLE_PATH = '/usr/local/lib/kube-egress-gateway/cli.mjs';
/** The same CLI under the name kubectl runs as `kubectl egress-doctor` (cmd/kube-egress-gateway.ts dispatches on it). */
export const KUBECTL_PLUGIN_PATH = '/usr/local/bin/kubectl-egress_doctor';
/** cni-manager's --plugin-binary default (cni/manager/flags.ts). */
export const PLUGIN_PATH = '/usr/local/bin/kube-egress-cni';

export interface StageResult {
  /** Bytes of each staged file, by its path in the image. */
  sizes: Record<string, number>;
}

/**
 * Writes `<out>/usr/local/bin/{node,kube-egress-gateway,kubectl-egress_doctor,kube-egress-cni}` and
 * the bundle the CLI links to.
 * The runtime shipped is the one running this (Node 26 or newer), stripped of
 * its symbols and debug info (a fifth of the official binary, never used at
 * run time).
 */
export async function stageArtifacts(out: string, runner: CommandRunner = new ExecRunner()): Promise<StageResult> {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 26) throw new KegError('IMAGE_NODE', `the image needs Node 26 or newer, this is ${process.version}`);
  rmSync(out, { recursive: true, force: true });
  const bin = join(out, 'usr/local/bin');
  mkdirSync(bin, { recursive: true });
  const runtime = join(out, NODE_PATH);
  await runner.run(['strip', '-o', runtime, process.execPath], { timeoutMs: 120_000 });
  chmodSync(runtime, 0o755);
  await bundleCli(join(out, BUNDLE_PATH));
  symlinkSync(relative(dirname(CLI_PATH), BUNDLE_PATH), join(out, CLI_PATH));
  symlinkSync(relative(dirname(KUBECTL_PLUGIN_PATH), BUNDLE_PATH), join(out, KUBECTL_PLUGIN_PATH));
  // The plugin runs on the host, where there is no Node: a single executable
  // built from the same stripped runtime.
  await buildPlugin(bin, runtime);
  const sizes: Record<string, number> = {};
  for (const p of [NODE_PATH, BUNDLE_PATH, PLUGIN_PATH]) sizes[p] = statSync(join(out, p)).size;
  return { sizes };
}

/**
 * One ESM file run by the image's Node (the CLI awaits at top level, so not
 * CJS). Subcommands stay lazily initialised inside the bundle. The CommonJS
 * dependencies get a real `require` for Node's built-ins. The entry point's
 * own `#!/usr/bin/env node` (for npx) gives way to the image's runtime.
 */
async function bundleCli(outfile: string): Promise<void> {
  mkdirSync(dirname(outfile), { recursive: true });
  const { outputFiles } = await build({
    entryPoints: [join(ROOT, 'cmd/kube-egress-gateway.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node26',
    outfile, minify: true, legalComments: 'none', logLevel: 'warning', write: false,
    banner: { js: `import { createRequire as __kegRequire } from 'node:module';\nconst require = __kegRequire(import.meta.url);` },
  });
  const text = outputFiles[0]?.text ?? '';
  writeFileSync(outfile, `#!${NODE_PATH}\n${text.replace(/^#![^\n]*\n/, '')}`, { mode: 0o755 });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: 'string', default: join(ROOT, 'dist/image/rootfs') } } });
  const { sizes } = await stageArtifacts(resolve(values.out));
  for (const [path, bytes] of Object.entries(sizes)) process.stdout.write(`${path} ${(bytes / 1e6).toFixed(1)} MB\n`);
}
