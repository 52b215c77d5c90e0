import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandRunner } from '../../lib/exec/runner.ts';

/*
 * Container images without a registry: single-layer OCI image layouts,
 * archived as tar, which `ctr images import` names from the
 * io.containerd.image.name annotation. Pods run them with
 * imagePullPolicy: Never; the sandbox image is pinned to the local pause.
 */

export interface LocalImage {
  /** The reference pods and containerd's sandbox_image use. */
  name: string;
  archive: string;
  /**
   * The archive does not name the image `name` (buildah writes only a bare
   * org.opencontainers.image.ref.name): its index is imported as `name`.
   */
  indexOnly?: boolean;
}

export const PAUSE_IMAGE = 'localhost/keg-lab/pause:1';
/**
 * busybox-static from Debian: `nc` works in pods; its `wget` segfaults
 * (static glibc's name lookup), so tests use `nc`.
 */
export const TEST_IMAGE = 'localhost/keg-lab/busybox:1';

/** Sorted names, root-owned, epoch mtimes: the same rootfs gives the same digests and archive. */
const REPRODUCIBLE_TAR = ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0'];

export interface ImageSpec {
  name: string;
  rootfs: string;
  entrypoint: string[];
}

/** Writes `spec` as an OCI archive at `out` (via a temporary name, so a crash leaves no half archive). */
export async function buildOciArchive(runner: CommandRunner, spec: ImageSpec, out: string): Promise<LocalImage> {
  const work = mkdtempSync(`${out}.build-`);
  try {
    const blobs = join(work, 'blobs', 'sha256');
    mkdirSync(blobs, { recursive: true });
    const blob = (file: string): { digest: string; size: number } => {
      const hex = createHash('sha256').update(readFileSync(file)).digest('hex');
      const size = statSync(file).size;
      renameSync(file, join(blobs, hex));
      return { digest: `sha256:${hex}`, size };
    };
    const json = (name: string, value: unknown): { digest: string; size: number } => {
      writeFileSync(join(work, name), JSON.stringify(value));
      return blob(join(work, name));
    };
    await runner.run(['tar', '-C', spec.rootfs, ...REPRODUCIBLE_TAR, '-cf', join(work, 'layer'), '.'], { timeoutMs: 120_000 });
    const layer = blob(join(work, 'layer'));
    const config = json('config', {
      architecture: 'amd64', os: 'linux',
      config: { Entrypoint: spec.entrypoint, Env: ['PATH=/bin:/usr/bin:/sbin:/usr/local/bin'] },
      rootfs: { type: 'layers', diff_ids: [layer.digest] },
    });
    const manifest = json('manifest', {
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
    });
    writeFileSync(join(work, 'index.json'), JSON.stringify({
      schemaVersion: 2,
      manifests: [{
        mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, platform: { architecture: 'amd64', os: 'linux' },
        annotations: { 'io.containerd.image.name': spec.name, 'org.opencontainers.image.ref.name': spec.name.split(':').at(-1) },
      }],
    }));
    writeFileSync(join(work, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    const tmp = `${out}.tmp-${process.pid}`;
    await runner.run(['tar', '-C', work, ...REPRODUCIBLE_TAR, '-cf', tmp, 'oci-layout', 'index.json', 'blobs']);
    renameSync(tmp, out);
    return { name: spec.name, archive: out };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The pause image and the test image (busybox with every applet linked), as archives in `dir`. */
export async function labImages(runner: CommandRunner, dir: string, bins: { pause: string; busybox: string }): Promise<{ pause: LocalImage; test: LocalImage }> {
  const pauseRoot = join(dir, 'rootfs-pause');
  mkdirSync(pauseRoot, { recursive: true });
  copyFileSync(bins.pause, join(pauseRoot, 'pause'));
  const bbRoot = join(dir, 'rootfs-busybox');
  for (const d of ['bin', 'etc', 'tmp']) mkdirSync(join(bbRoot, d), { recursive: true });
  copyFileSync(bins.busybox, join(bbRoot, 'bin', 'busybox'));
  const { stdout } = await runner.run([bins.busybox, '--list']);
  for (const applet of stdout.split('\n').filter((a) => a && a !== 'busybox')) symlinkSync('busybox', join(bbRoot, 'bin', applet));
  writeFileSync(join(bbRoot, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(join(bbRoot, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  const pause = await buildOciArchive(runner, { name: PAUSE_IMAGE, rootfs: pauseRoot, entrypoint: ['/pause'] }, join(dir, 'pause.tar'));
  const test = await buildOciArchive(runner, { name: TEST_IMAGE, rootfs: bbRoot, entrypoint: ['/bin/sh'] }, join(dir, 'busybox.tar'));
  rmSync(pauseRoot, { recursive: true, force: true });
  rmSync(bbRoot, { recursive: true, force: true });
  return { pause, test };
}
