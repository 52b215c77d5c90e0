import t from 'tap';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CommandSpec, parseBindAddress, parseCommandLine, programSpec, runCli } from './cli.ts';
import { loadKubeConfig } from './kube/config.ts';
import { VERSION } from './version.ts';
import { PROGRAM_SPEC } from '../cmd/kube-egress-gateway.ts';
import { operatorCommand } from '../operator/flags.ts';
import { gatewayCommand } from '../gateway/config.ts';
import { cniManagerCommand } from '../cni/manager/flags.ts';
import { armEmulatorCommand } from '../testenv/azure/arm/cmd.ts';
import { imdsEmulatorCommand } from '../testenv/azure/imds/cmd.ts';

/** The lab's emulators share the CLI library; their tree is walked too. */
const TESTENV_SPEC = programSpec([armEmulatorCommand(() => {}), imdsEmulatorCommand], 'testenv');

async function cli(argv: string[], root: CommandSpec = PROGRAM_SPEC): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(root, argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

/** Every command path of the CLI: [], ['operator'], ['cni-manager', 'uninstall'], ... */
function paths(spec: CommandSpec, prefix: string[] = []): { path: string[]; spec: CommandSpec }[] {
  return [{ path: prefix, spec }, ...(spec.subcommands ?? []).flatMap((s) => paths(s, [...prefix, s.name]))];
}

t.test('every command: --help with summary, each flag, defaults, an example; a bad flag exits 2', async (t) => {
  const all = [PROGRAM_SPEC, TESTENV_SPEC].flatMap((root) => paths(root).map((p) => ({ ...p, root })));
  t.ok(all.length >= 9, 'the root, three parts, cni-manager install and uninstall, the emulators');
  for (const { path, spec, root } of all) {
    const help = await cli([...path, '--help'], root);
    const name = [root.name, ...path].join(' ');
    t.equal(help.code, 0, `${name} --help exits 0`);
    t.match(help.out, `Usage: ${name}`);
    t.match(help.out, spec.summary);
    t.match(help.out, /Examples:\n {2}\$ \S/);
    const flat = help.out.replace(/\s+/g, ' ');
    for (const [flag, def] of Object.entries(spec.flags)) {
      t.match(help.out, `--${flag}`, `${name}: --${flag} listed`);
      if (def.default !== undefined && def.default !== '') t.match(flat, `default: ${String(def.default)}`, `${name}: --${flag} default shown`);
    }
    const bad = await cli([...path, '--bogus'], root);
    t.equal(bad.code, 2, `${name} --bogus exits 2`);
    t.match(bad.err, /unknown option '--bogus'/);
    t.match(bad.err, `Usage: ${name}`, 'the usage follows the error');
    t.match(bad.err, `Run '${name} --help'`);
  }
});

t.test('--version, a missing or unknown command', async (t) => {
  t.same(await cli(['--version']), { code: 0, out: `kube-egress-gateway ${VERSION}\n`, err: '' });
  t.equal((await cli(['operator', '--version'])).code, 0);
  t.equal((await cli([])).code, 2, 'no command is a usage error');
  const unknown = await cli(['operater']);
  t.equal(unknown.code, 2);
  t.match(unknown.err, /unknown command 'operater'/);
  t.match(unknown.err, /Did you mean operator\?/);
});

t.test('usage errors name the flag and the fix', async (t) => {
  for (const [argv, want] of [
    [['operator', '--batch-delay', 'abc'], /--batch-delay <DURATION>' argument 'abc' is invalid. want a duration/],
    [['operator', '--metrics-bind-address', '8080'], /--metrics-bind-address <ADDR>' argument '8080' is invalid. want host:port or :port/],
    [['operator', '--log-level', 'bogus'], /--log-level <LEVEL>' argument 'bogus' is invalid. Allowed choices are debug, info, warn, error/],
    [['operator', '--kubeconfig'], /option '--kubeconfig <PATH>' argument missing/],
    [['operator', '--leader-election-id', 'Not_A_Lease'], /--leader-election-id=Not_A_Lease: want a Lease name/],
    [['cni-manager', '--node-name', 'n', '--probe-failures', 'x'], /--probe-failures: want a whole number, 1-100/],
    [['gateway', '--resync-interval', '1y'], /--resync-interval <DURATION>' argument '1y' is invalid/],
    [['operator', 'extra'], /too many arguments/],
  ] as const) {
    const r = await cli([...argv]);
    t.equal(r.code, 2, argv.join(' '));
    t.match(r.err, want);
    t.equal(r.err.split('\n')[0]?.split(want.source.slice(0, 8)).length, 2, 'said once');
  }
});

const le = (args: string[]) => parseCommandLine(operatorCommand, args)['leader-elect'];
const fr = (args: string[]) => parseCommandLine(cniManagerCommand, args)['fast-recovery'];

t.test('booleans: --x, --no-x, --x=true, --x=false', async (t) => {
  t.equal(le([]), false);
  t.equal(le(['--leader-elect']), true);
  t.equal(le(['--leader-elect=true']), true);
  t.equal(le(['--leader-elect=false']), false);
  t.equal(le(['--leader-elect', '--no-leader-elect']), false, 'the last one wins');
  t.throws(() => le(['--leader-elect=yes']), { code: 'USAGE', message: /--leader-elect.*want true or false/ });
  t.equal(fr([]), true, 'a boolean that defaults to true');
  t.equal(fr(['--no-fast-recovery']), false);
  t.equal(fr(['--fast-recovery=false']), false);
  t.equal(fr(['--fast-recovery']), true, 'no argument needed');
});

t.test("the Go original's flags", async (t) => {
  t.equal(parseCommandLine(operatorCommand, ['--metrics-bind-port', '9090'])['metrics-bind-address'], ':9090');
  t.equal(parseCommandLine(operatorCommand, ['--metrics-bind-port=9091'])['metrics-bind-address'], ':9091');
  t.equal(parseCommandLine(gatewayCommand, ['--lb-probe-drain-delay-seconds=3'])['drain-seconds'], '3');
  t.equal(parseCommandLine(cniManagerCommand, ['--exception-cidrs', '10.0.0.0/8'])['exclude-cidrs'], '10.0.0.0/8');
  t.throws(() => parseCommandLine(cniManagerCommand, ['--grpc-server-port=50051']), { code: 'USAGE', message: /--grpc-server-port.*not supported.*--socket/ });
  t.throws(() => parseCommandLine(operatorCommand, ['--health-probe-bind-port', '8081']), { code: 'USAGE', message: /--health-probe-bind-port/ });
  t.throws(() => parseCommandLine(operatorCommand, ['--metrics-bind-port']), { code: 'USAGE', message: /argument missing/ });
});

t.test('package.json has the bin entry; the entry point has a shebang', async (t) => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { bin: Record<string, string> };
  t.equal(pkg.bin['kube-egress-gateway'], 'cmd/kube-egress-gateway.ts');
  t.match(readFileSync(new URL('../cmd/kube-egress-gateway.ts', import.meta.url), 'utf8'), /^#!\/usr\/bin\/env node\n/);
});

t.test('bind addresses', async (t) => {
  t.same(parseBindAddress(':8080', 'x'), { host: '0.0.0.0', port: 8080 });
  t.same(parseBindAddress('127.0.0.1:9', 'x'), { host: '127.0.0.1', port: 9 });
  t.throws(() => parseBindAddress('8080', 'metrics-bind-address'), { message: /--metrics-bind-address=8080: want host:port/ });
  t.throws(() => parseBindAddress(':99999', 'x'), { code: 'USAGE' });
});

t.test('kubeconfig: explicit path, $KUBECONFIG, in-cluster, or a clear error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keg-kc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const good = join(dir, 'good.yaml');
  writeFileSync(good, 'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n');
  const empty = join(dir, 'empty.yaml');
  writeFileSync(empty, 'apiVersion: v1\nkind: Config\n');
  t.equal(loadKubeConfig(good, {}).getCurrentCluster()?.server, 'https://127.0.0.1:6443');
  t.equal(loadKubeConfig(undefined, { KUBECONFIG: good }).getCurrentCluster()?.server, 'https://127.0.0.1:6443');
  t.throws(() => loadKubeConfig(join(dir, 'missing'), {}), { code: 'KUBECONFIG_NOT_FOUND', message: /missing does not exist/ });
  t.throws(() => loadKubeConfig(undefined, {}), { code: 'KUBECONFIG_NOT_FOUND', message: /not running in a cluster/ });
  t.throws(() => loadKubeConfig(empty, {}), { code: 'KUBECONFIG_INVALID' });
  const http = join(dir, 'http.yaml');
  writeFileSync(http, readFileSync(good, 'utf8').replace('https:', 'http:'));
  t.throws(() => loadKubeConfig(http, {}), { code: 'KUBECONFIG_INVALID', message: /plain HTTP.*insecure-skip-tls-verify/ });
  writeFileSync(http, readFileSync(good, 'utf8').replace('server: "https:', 'insecure-skip-tls-verify: true, server: "http:'));
  t.equal(loadKubeConfig(http, {}).getCurrentCluster()?.server, 'http://127.0.0.1:6443');
});
