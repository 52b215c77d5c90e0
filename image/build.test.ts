// The build's steps as text, with a fake buildah; image.test.ts runs the
// real build and its result.
import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { failure, FakeRunner } from '../lib/exec/fake.ts';
import { silentLogger } from '../lib/log.ts';
import { VERSION } from '../lib/version.ts';
import { mmdebstrapArgs } from './base.ts';
import { buildImage, inputsFingerprint } from './build.ts';

const KEY = createHash('sha256').update(mmdebstrapArgs('').join('\n')).digest('hex').slice(0, 12);

function setup(t: { teardown(fn: () => void): void }, fail?: string) {
  const dir = mkdtempSync(join(tmpdir(), 'keg-build-image-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cacheDir = join(dir, 'cache');
  const outDir = join(dir, 'out');
  // A cached base tarball: no mmdebstrap.
  mkdirSync(join(cacheDir, 'image'), { recursive: true });
  writeFileSync(join(cacheDir, 'image', `debian-bookworm-${KEY}.tar`), 'tar');
  const runner = new FakeRunner((argv) => {
    if (fail && argv.includes(fail)) return failure(argv, `${fail} failed`);
    if (argv.includes('inspect')) return 'id'; // the base is imported already
    if (argv.includes('rev-parse')) return 'c0ffee\n';
    // The fake push writes the archive it names.
    if (argv.includes('push')) writeFileSync(argv.at(-1)!.split(':')[1]!, 'oci');
    return undefined;
  });
  let staged = 0;
  const opts = { runner, log: silentLogger, cacheDir, outDir, stage: async () => void staged++ };
  return { outDir, runner, opts, staged: () => staged };
}

const buildahVerb = (line: string): string => line.replace(/^buildah --root \S+ --runroot \S+ --storage-driver overlay /, '').split(' ')[0]!;

t.test('stages, builds the Dockerfile with the local base as prebuilt, archives, cleans up', async (t) => {
  const { outDir, runner, opts, staged } = setup(t);
  const result = await buildImage(opts);
  t.equal(staged(), 1);
  t.equal(result.archive, join(outDir, `kube-egress-gateway-${VERSION}.oci.tar`));
  t.ok(result.built && existsSync(result.archive));
  t.equal(readFileSync(`${result.archive}.inputs`, 'utf8'), inputsFingerprint());
  const buildah = runner.lines().filter((l) => l.startsWith('buildah '));
  t.same(buildah.map(buildahVerb), ['inspect', 'bud', 'push', 'rm', 'rmi']);
  t.match(buildah[1], new RegExp(`--build-arg BASE_IMAGE=localhost/keg-base:bookworm-${KEY}-\\d+ --build-arg BUILDER_IMAGE=localhost/keg-base:`));
  t.match(buildah[1], `--build-arg ARTIFACTS=prebuilt --build-arg VERSION=${VERSION} --build-arg REVISION=c0ffee`);
  t.match(buildah[1], /--isolation chroot --pull-never .*--tag localhost\/kube-egress-gateway:\S+ --file \S+\/Dockerfile \S+$/);
  t.match(buildah[2], `oci-archive:${result.archive}.tmp-${process.pid}:kube-egress-gateway:${VERSION}`);
  t.same(Object.keys(result.phases), ['base', 'stage', 'build', 'archive']);

  runner.calls.length = 0;
  t.match(await buildImage(opts), { built: false, archive: result.archive }, 'inputs unchanged: kept');
  t.same(runner.calls, []);
  t.match(await buildImage({ ...opts, force: true }), { built: true }, '--force rebuilds');
});

t.test('a failed push leaves no archive, not even a partial one', async (t) => {
  const { outDir, opts } = setup(t, 'push');
  await t.rejects(buildImage(opts), { code: 'COMMAND_FAILED' });
  t.notOk(existsSync(join(outDir, `kube-egress-gateway-${VERSION}.oci.tar`)));
  t.notOk(existsSync(join(outDir, `kube-egress-gateway-${VERSION}.oci.tar.inputs`)));
});
