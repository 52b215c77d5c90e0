// The staged tree the Dockerfile copies into the image, built into a temp
// dir and run with its own runtime, as the image runs it.
import t from 'tap';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CNI_MANAGER_FLAGS } from '../cni/manager/flags.ts';
import { ExecRunner } from '../lib/exec/runner.ts';
import { VERSION } from '../lib/version.ts';
import { BUNDLE_PATH, CLI_PATH, KUBECTL_PLUGIN_PATH, NODE_PATH, PLUGIN_PATH, stageArtifacts } from './stage.ts';

t.test('stages a stripped runtime, the CLI bundle and the CNI executable', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'keg-stage-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const { sizes } = await stageArtifacts(out);
  t.ok(sizes[NODE_PATH]! < statSync(process.execPath).size * 0.9, 'the runtime is stripped');
  t.ok(sizes[BUNDLE_PATH]! < 10_000_000, `the CLI is one modest bundle (${sizes[BUNDLE_PATH]} bytes)`);
  const runner = new ExecRunner();
  const node = join(out, NODE_PATH);
  const cli = join(out, CLI_PATH);
  t.equal((await runner.run([node, cli, '--version'])).stdout, `kube-egress-gateway ${VERSION}\n`);
  t.match((await runner.run([node, cli, 'gateway', '--help'])).stdout, 'Usage: kube-egress-gateway gateway');
  t.match((await runner.run([node, join(out, KUBECTL_PLUGIN_PATH), '--help'])).stdout, 'Usage: kube-egress-gateway doctor', 'kubectl egress-doctor runs doctor');
  t.match((await runner.run(['head', '-c', '64', cli])).stdout, /^#!\/usr\/local\/bin\/node\n/, 'runs by its shebang in the image');
  const version = await runner.run([join(out, PLUGIN_PATH)], { env: { CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"1.0.0"}' });
  t.match(JSON.parse(version.stdout), { supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
});

t.test('the CNI executable sits where cni-manager looks for it by default', async (t) => {
  t.equal(CNI_MANAGER_FLAGS['plugin-binary'].default, PLUGIN_PATH);
});
