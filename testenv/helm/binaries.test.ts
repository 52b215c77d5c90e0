import t from 'tap';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeRunner } from '../../lib/exec/fake.ts';
import { silentLogger } from '../../lib/log.ts';
import { HELM_VERSION, helmModule, resolveHelm } from './binaries.ts';

function cacheDir(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'keg-helm-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('HELM_BIN first, and it must be an executable', async (t) => {
  const dir = cacheDir(t);
  const bin = join(dir, 'my-helm');
  writeFileSync(bin, '#!/bin/sh\n');
  chmodSync(bin, 0o755);
  const runner = new FakeRunner();
  t.equal(await resolveHelm({ runner, log: silentLogger, env: { HELM_BIN: bin }, cacheDir: dir }), bin);
  await t.rejects(resolveHelm({ runner, log: silentLogger, env: { HELM_BIN: join(dir, 'missing') } }), /HELM_BIN=.*missing is not an executable/);
  t.same(runner.calls, []);
});

t.test('then the per-version cache, then a build from Go modules into it', async (t) => {
  const dir = cacheDir(t);
  const runner = new FakeRunner((argv) => {
    const o = argv.indexOf('-o');
    if (argv[1] === 'build' && o > 0) {
      mkdirSync(join(argv[o + 1] as string, '..'), { recursive: true });
      writeFileSync(argv[o + 1] as string, '#!/bin/sh\n', { mode: 0o755 });
    }
    return undefined;
  });
  const built = await resolveHelm({ runner, log: silentLogger, env: {}, cacheDir: dir });
  t.equal(built, join(dir, `helm-v${HELM_VERSION}`, 'helm'));
  t.ok(existsSync(built));
  t.match(runner.lines().find((l) => / build /.test(l)), new RegExp(`-X helm.sh/helm/v3/internal/version.version=v${HELM_VERSION} .*helm.sh/helm/v3/cmd/helm$`));
  const before = runner.calls.length;
  t.equal(await resolveHelm({ runner, log: silentLogger, env: {}, cacheDir: dir }), built);
  t.equal(runner.calls.length, before, 'the cached build is reused, nothing run');
});

t.test('the throwaway module', async (t) => {
  t.match(helmModule('3.22.0').files['go.mod'], /require helm.sh\/helm\/v3 v3.22.0/);
  t.match(helmModule('3.22.0').files['tools.go'], /import _ "helm.sh\/helm\/v3\/cmd\/helm"/);
});
