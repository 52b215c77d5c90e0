// `npm run build`: bundles the CNI plugin with esbuild and makes it a Node
// single executable application (node --build-sea), so the runtime starts one
// file with no module resolution, no TypeScript stripping, its modules already
// evaluated in a V8 startup snapshot.
// Usage: node cni/build.ts [--out DIR]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { ExecRunner } from '../lib/exec/runner.ts';
import { PLUGIN_TYPE } from './plugin/spec.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface BuildResult {
  executable: string;
  bundleBytes: number;
}

/** Builds `<outDir>/kube-egress-cni` with the Node binary running this script. */
export async function buildPlugin(outDir: string, node: string = process.execPath): Promise<BuildResult> {
  const work = mkdtempSync(join(tmpdir(), 'keg-sea-'));
  try {
    const bundle = join(work, 'plugin.cjs');
    const out = await build({
      entryPoints: [join(ROOT, 'cni/plugin/main.ts')], bundle: true, platform: 'node', format: 'cjs', target: 'node26',
      outfile: bundle, minify: true, legalComments: 'none', metafile: true, logLevel: 'warning',
    });
    mkdirSync(outDir, { recursive: true });
    const executable = join(outDir, PLUGIN_TYPE);
    const config = join(work, 'sea.json');
    writeFileSync(config, JSON.stringify({ main: bundle, output: executable, disableExperimentalSEAWarning: true, useSnapshot: true }));
    await new ExecRunner().run([node, '--build-sea', config], { cwd: work, timeoutMs: 300_000 });
    const bundleBytes = Object.values(out.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
    return { executable, bundleBytes };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: 'string', default: join(ROOT, 'dist') } } });
  const result = await buildPlugin(resolve(values.out));
  process.stdout.write(`built ${result.executable} (bundle ${result.bundleBytes} bytes)\n`);
}
