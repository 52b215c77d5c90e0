import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ExecRunner } from '../../lib/exec/runner.ts';
import { buildOciArchive } from './images.ts';

t.test('an OCI archive whose index, manifest, config and layer refer to each other by digest, and builds reproducibly', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keg-oci-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  writeFileSync(join(rootfs, 'bin', 'app'), '#!/bin/sh\n', { mode: 0o755 });
  const runner = new ExecRunner();
  const image = await buildOciArchive(runner, { name: 'localhost/x/app:1', rootfs, entrypoint: ['/bin/app'] }, join(dir, 'a.tar'));
  t.same(image, { name: 'localhost/x/app:1', archive: join(dir, 'a.tar') });
  await buildOciArchive(runner, { name: 'localhost/x/app:1', rootfs, entrypoint: ['/bin/app'] }, join(dir, 'b.tar'));
  t.equal(readFileSync(join(dir, 'a.tar')).equals(readFileSync(join(dir, 'b.tar'))), true, 'same rootfs, same archive');

  const out = join(dir, 'out');
  mkdirSync(out);
  await runner.run(['tar', '-C', out, '-xf', join(dir, 'a.tar')]);
  const blob = (digest: string): Buffer => {
    const data = readFileSync(join(out, 'blobs', 'sha256', digest.replace('sha256:', '')));
    t.equal(`sha256:${createHash('sha256').update(data).digest('hex')}`, digest, `blob ${digest.slice(0, 15)} matches its name`);
    return data;
  };
  const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8'));
  t.equal(index.manifests[0].annotations['io.containerd.image.name'], 'localhost/x/app:1');
  const manifest = JSON.parse(blob(index.manifests[0].digest).toString());
  t.equal(index.manifests[0].size, blob(index.manifests[0].digest).length);
  const config = JSON.parse(blob(manifest.config.digest).toString());
  t.same(config.config.Entrypoint, ['/bin/app']);
  t.same(config.rootfs.diff_ids, [manifest.layers[0].digest], 'uncompressed layer: diff id is the blob digest');
  const { stdout } = await runner.run(['tar', '-tvf', join(out, 'blobs', 'sha256', manifest.layers[0].digest.replace('sha256:', ''))]);
  t.match(stdout, /0\/0 .* \.\/bin\/app/, 'root-owned files');
});
