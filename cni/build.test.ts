// The single-executable build that `npm run build` runs, built into a temp dir and executed.
import t from 'tap';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecRunner } from '../lib/exec/runner.ts';
import { buildPlugin } from './build.ts';

t.test('builds kube-egress-cni as a single executable that answers VERSION', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keg-build-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { executable, bundleBytes } = await buildPlugin(dir);
  t.ok(bundleBytes > 0 && bundleBytes < 2_000_000, `bundle is one modest file (${bundleBytes} bytes)`);
  t.equal(statSync(executable).mode & 0o111, 0o111, 'executable');
  const out = await new ExecRunner().run([executable], { env: { CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"0.3.0"}' });
  t.same(JSON.parse(out.stdout), { cniVersion: '0.3.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  t.equal(out.stderr, '', 'nothing on stderr (no experimental warning)');
  const bad = await new ExecRunner().run([executable], { env: {}, input: '' }).catch((err: { stdout: string; exitCode: number }) => err);
  t.match(bad, { exitCode: 1 });
  t.match(JSON.parse((bad as { stdout: string }).stdout), { code: 4, msg: 'CNI_COMMAND is not set' });
});
