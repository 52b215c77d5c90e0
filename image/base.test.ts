// The base image's cache: bootstrapped once, refreshed when stale, imported
// into buildah's storage once per tarball. The commands are checked as text;
// image.test.ts runs the real thing.
import t from 'tap';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { failure, FakeRunner } from '../lib/exec/fake.ts';
import { silentLogger } from '../lib/log.ts';
import { ensureBase, mmdebstrapArgs } from './base.ts';
import { Buildah } from './buildah.ts';

function setup(t: { teardown(fn: () => void): void }, imported: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'keg-base-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const runner = new FakeRunner((argv) => {
    // The fake mmdebstrap writes the tarball it was asked for.
    if (argv[0] === 'mmdebstrap') writeFileSync(argv[argv.indexOf('bookworm') + 1]!, 'tar');
    if (argv.includes('inspect')) return imported ? 'id' : failure(argv, 'image not known');
    if (argv.includes('from')) return 'working-container\n';
    if (argv.includes('images')) return 'localhost/kube-egress-gateway:0.1.0\nlocalhost/keg-base:bookworm-0123456789ab-1\n';
    return undefined;
  });
  return { dir, runner, buildah: new Buildah(runner, dir) };
}

const verbs = (lines: string[]): string[] => lines.map((l) => l.replace(/^buildah --root \S+ --runroot \S+ --storage-driver overlay /, 'buildah ').split(' ').slice(0, 2).join(' '));

t.test('a slim, merged-/usr Debian with the security archive', async (t) => {
  const args = mmdebstrapArgs('/out.tar');
  t.match(args.join(' '), /--variant=apt .*--hook-dir=\/usr\/share\/mmdebstrap\/hooks\/merged-usr/);
  t.ok(args.includes('--dpkgopt=path-exclude=/usr/share/doc/*') && args.includes('--dpkgopt=path-include=/usr/share/doc/*/copyright'));
  t.same(args.slice(-5), ['bookworm', '/out.tar', 'deb http://deb.debian.org/debian bookworm main',
    'deb http://deb.debian.org/debian bookworm-updates main', 'deb http://deb.debian.org/debian-security bookworm-security main']);
});

t.test('first run: bootstraps, then imports into the project\'s own storage', async (t) => {
  const { dir, runner, buildah } = setup(t, false);
  const ref = await ensureBase({ runner, buildah, log: silentLogger, dir });
  t.match(ref, /^localhost\/keg-base:bookworm-[0-9a-f]{12}-\d+$/);
  t.same(verbs(runner.lines()), ['mmdebstrap --variant=apt', 'buildah inspect', 'buildah from', 'buildah add', 'buildah config', 'buildah commit', 'buildah images', 'buildah rmi']);
  t.match(runner.lines().at(-1), / rmi localhost\/keg-base:bookworm-0123456789ab-1$/, 'the base it replaces is untagged, nothing else');
  t.match(runner.lines()[1], `--root ${join(dir, 'containers/storage')} `);
});

t.test('later runs: nothing to do; a week-old tarball is bootstrapped again', async (t) => {
  const { dir, runner, buildah } = setup(t, true);
  const first = await ensureBase({ runner, buildah, log: silentLogger, dir });
  runner.calls.length = 0;
  t.equal(await ensureBase({ runner, buildah, log: silentLogger, dir }), first);
  t.same(verbs(runner.lines()), ['buildah inspect'], 'cached and imported');
  const [tarball] = readdirSync(dir).filter((f) => f.endsWith('.tar'));
  utimesSync(join(dir, tarball ?? 'missing'), new Date(0), new Date(0));
  runner.calls.length = 0;
  await ensureBase({ runner, buildah, log: silentLogger, dir });
  t.equal(runner.lines()[0]?.split(' ')[0], 'mmdebstrap', 'stale: bootstrapped again');
});

t.test('a failed import removes its working container', async (t) => {
  const { dir } = setup(t, false);
  const runner = new FakeRunner((argv) => {
    if (argv[0] === 'mmdebstrap') writeFileSync(argv[argv.indexOf('bookworm') + 1]!, 'tar');
    if (argv.includes('inspect')) return failure(argv, 'image not known');
    if (argv.includes('from')) return 'wc\n';
    if (argv.includes('add')) return failure(argv, 'no space left on device');
    return undefined;
  });
  await t.rejects(ensureBase({ runner, buildah: new Buildah(runner, dir), log: silentLogger, dir }), { code: 'COMMAND_FAILED' });
  t.same(verbs(runner.lines()).slice(-2), ['buildah add', 'buildah rm']);
});
