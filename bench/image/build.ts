// Image build cost and size. Builds the image (`--cold`: with an empty cache
// dir, as CI's first run on a fresh machine does; then again with the cache,
// forced), checks the up-to-date path, and prints each layer's size from the
// OCI archive: compressed as stored, uncompressed as unpacked on a node.
// Usage (as root): npx node bench/image/build.ts [--cold]
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { buildImage } from '../../image/build.ts';
import { ExecRunner } from '../../lib/exec/runner.ts';
import { createLogger } from '../../lib/log.ts';

const { values } = parseArgs({ options: { cold: { type: 'boolean', default: false } } });
const log = createLogger({ level: 'warn' });
const out = (line: string): boolean => process.stdout.write(`${line}\n`);
const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

if (values.cold) {
  const cacheDir = mkdtempSync(join(tmpdir(), 'keg-bench-image-'));
  try {
    const cold = await buildImage({ log, cacheDir, force: true });
    out(`cold build (empty cache): ${cold.seconds} s ${JSON.stringify(cold.phases)}`);
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}
const warm = await buildImage({ log, force: true });
out(`warm rebuild (cached base and layers): ${warm.seconds} s ${JSON.stringify(warm.phases)}`);
const started = Date.now();
const noop = await buildImage({ log });
out(`unchanged inputs: ${noop.built ? 'rebuilt (unexpected)' : 'kept'} in ${Date.now() - started} ms`);

// Layer sizes, read from the archive itself.
const layout = mkdtempSync(join(tmpdir(), 'keg-bench-layout-'));
try {
  await new ExecRunner().run(['tar', '-xf', warm.archive, '-C', layout], { timeoutMs: 120_000 });
  const blob = (digest: string): Buffer => readFileSync(join(layout, 'blobs', ...digest.split(':')));
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(blob(index.manifests[0]?.digest ?? '').toString()) as { config: { digest: string }; layers: { digest: string; size: number }[] };
  const config = JSON.parse(blob(manifest.config.digest).toString()) as { history: { created_by?: string; empty_layer?: boolean }[] };
  const steps = config.history.filter((h) => !h.empty_layer);
  let total = 0;
  out('| layer | compressed | uncompressed |\n| --- | --- | --- |');
  manifest.layers.forEach((layer, i) => {
    const size = gunzipSync(blob(layer.digest)).length;
    total += size;
    // Build arguments prefix RUN steps as `|N NAME=value ... /bin/sh -c <command>`.
    const step = i === 0 ? 'base' : (steps[i]?.created_by ?? '?').replace(/^.*?\/bin\/sh -c (#\(nop\) )?/, '').replace(/\s+/g, ' ').slice(0, 50);
    out(`| ${step} | ${mb(layer.size)} | ${mb(size)} |`);
  });
  out(`| total | ${mb(statSync(warm.archive).size)} (archive) | ${mb(total)} |`);
} finally {
  rmSync(layout, { recursive: true, force: true });
}
