import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { doctor, EXIT, loadUserKubeConfig, parsePodArg } from './cmd.ts';
import { doctorFlags, KUBECTL_PLUGIN } from './flags.ts';

const CLI = fileURLToPath(new URL('../cmd/kube-egress-gateway.ts', import.meta.url));

function kubeconfig(dir: string, file: string, server: string, contexts: { name: string; namespace?: string }[]): string {
  const path = join(dir, file);
  writeFileSync(path, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': contexts[0]?.name,
    clusters: contexts.map((c) => ({ name: c.name, cluster: { server } })),
    users: [{ name: `u-${file}`, user: { token: 't' } }],
    contexts: contexts.map((c) => ({ name: c.name, context: { cluster: c.name, user: `u-${file}`, ...(c.namespace && { namespace: c.namespace }) } })),
  }));
  return path;
}

t.test('credentials as kubectl finds them', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keg-doctor-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const a = kubeconfig(dir, 'a', 'https://10.0.0.1:6443', [{ name: 'prod', namespace: 'team-a' }, { name: 'dev' }]);
  const b = kubeconfig(dir, 'b', 'https://10.0.0.2:6443', [{ name: 'lab' }]);
  t.equal(loadUserKubeConfig(a, undefined).getCurrentContext(), 'prod', '--kubeconfig');
  t.equal(loadUserKubeConfig(a, 'dev').getCurrentContext(), 'dev', '--context');
  t.throws(() => loadUserKubeConfig(a, 'nope'), { code: 'USAGE', message: /no context nope/ });
  t.throws(() => loadUserKubeConfig(join(dir, 'missing'), undefined), { code: 'KUBECONFIG_NOT_FOUND' });
  const merged = loadUserKubeConfig(undefined, undefined, { KUBECONFIG: `${b}:${join(dir, 'absent')}:${a}` });
  t.equal(merged.getCurrentContext(), 'lab', '$KUBECONFIG: a list of files, merged; the first current context wins, absent files are skipped');
  t.ok(merged.getContextObject('prod'), 'with the later files\' contexts');
  const c = kubeconfig(dir, 'c', 'https://10.0.0.3:6443', [{ name: 'lab' }]);
  t.equal(loadUserKubeConfig(undefined, undefined, { KUBECONFIG: `${b}:${c}` }).getCurrentCluster()?.server, 'https://10.0.0.2:6443', 'the first definition of a name wins');

  const kc = loadUserKubeConfig(a, undefined);
  t.same(parsePodArg('team-b/app', kc), { namespace: 'team-b', name: 'app' });
  t.same(parsePodArg('app', kc), { namespace: 'team-a', name: 'app' }, 'a bare name is in the context\'s namespace');
  t.same(parsePodArg('app', loadUserKubeConfig(a, 'dev')), { namespace: 'default', name: 'app' }, 'else default');
  for (const bad of ['', 'a/b/c', '/app', 'ns/']) t.throws(() => parsePodArg(bad, kc), { code: 'USAGE' }, JSON.stringify(bad));
});

t.test('flags: --probe needs --echo-url, which must be a URL', async (t) => {
  const base = { kubeconfig: undefined, context: undefined, 'system-namespace': 'kube-egress-gateway-system', output: 'text', probe: false, 'echo-url': undefined };
  t.throws(() => doctorFlags({ ...base, probe: true }), { code: 'USAGE', message: '--probe needs --echo-url' });
  t.throws(() => doctorFlags({ ...base, 'echo-url': 'echo:80' }), { code: 'USAGE', message: /--echo-url/ });
  t.match(doctorFlags({ ...base, probe: true, 'echo-url': 'https://ifconfig.me/ip' }), { probe: true, 'echo-url': 'https://ifconfig.me/ip' });
});

t.test('an API doctor cannot reach: exit 3 with the reason, no verdict', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keg-doctor-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = kubeconfig(dir, 'k', 'https://127.0.0.1:1', [{ name: 'x' }]);
  let out = '';
  let err = '';
  const flags = doctorFlags({ kubeconfig: file, context: undefined, 'system-namespace': 'kube-egress-gateway-system', output: 'text', probe: false, 'echo-url': undefined });
  t.equal(await doctor(flags, 'default/app', { out: (s) => (out += s), err: (s) => (err += s) }), EXIT.cannotCheck);
  t.equal(out, '');
  t.match(err, /^doctor: cannot check default\/app: .*\[KUBE_UNREACHABLE\]\n$/);
  err = '';
  t.equal(await doctor({ ...flags, kubeconfig: join(dir, 'missing') }, 'default/app', { err: (s) => (err += s) }), EXIT.cannotCheck);
  t.match(err, /kubeconfig .*missing does not exist/);
});

t.test(`installed as ${KUBECTL_PLUGIN}, the executable is doctor`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keg-doctor-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  symlinkSync(CLI, join(dir, KUBECTL_PLUGIN));
  const { stdout } = await promisify(execFile)(process.execPath, [join(dir, KUBECTL_PLUGIN), '--help']);
  t.match(stdout, /^Usage: kube-egress-gateway doctor \[options\] <namespace\/pod>/);
});
