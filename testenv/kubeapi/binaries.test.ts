import t from 'tap';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeRunner } from '../../lib/exec/fake.ts';
import { silentLogger } from '../../lib/log.ts';
import { compareVersions, resolveBinaries, tryDownload } from './binaries.ts';
import { goModuleForEtcd, goModuleForKube } from './gomodule.ts';
import { ETCD_VERSION, KUBE_VERSION } from './versions.ts';
import type { Teardown } from '../netns.ts';

function tempDir(t: Teardown): string {
  const dir = mkdtempSync(join(tmpdir(), 'keg-bin-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function executable(path: string, content = '#!/bin/sh\n'): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
  chmodSync(path, 0o755);
  return path;
}

const KUBERNETES_GOMOD = `module k8s.io/kubernetes

go 1.26.0

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
)
`;

/**
 * A fake `go` that writes the binary `go build -o` asks for, and a go.mod for
 * `go mod download`. Without `onPath`, plain `go` fails as if not on PATH.
 */
function fakeGo(dir: string, opts: { onPath?: boolean } = {}): FakeRunner {
  const gomod = join(dir, 'k8s.mod');
  writeFileSync(gomod, KUBERNETES_GOMOD);
  return new FakeRunner((argv) => {
    if (argv[0] === 'go' && opts.onPath === false) return new Error('go: not found');
    if (argv[1] === 'mod' && argv[2] === 'download') return JSON.stringify({ GoMod: gomod });
    if (argv[0] === 'cat') return readFileSync(argv[1] as string, 'utf8');
    const o = argv.indexOf('-o');
    if (argv[1] === 'build' && o > 0) executable(argv[o + 1] as string);
    return undefined;
  });
}

t.test('environment variables come first, and must name executables', async (t) => {
  const dir = tempDir(t);
  const api = executable(join(dir, 'my-apiserver'));
  const etcd = executable(join(dir, 'my-etcd'));
  const runner = new FakeRunner();
  const env = { KUBE_APISERVER_BIN: api, ETCD_BIN: etcd };
  t.same(await resolveBinaries({ runner, log: silentLogger, env, cacheDir: join(dir, 'cache') }), { kubeApiserver: api, etcd });
  t.same(runner.calls, [], 'nothing run, nothing downloaded');
  await t.rejects(resolveBinaries({ runner, log: silentLogger, env: { KUBE_APISERVER_BIN: join(dir, 'missing') } }), { code: 'BINARY_NOT_FOUND', message: /KUBE_APISERVER_BIN=.*missing is not an executable/ });
  await t.rejects(resolveBinaries({ runner, log: silentLogger, env: { KUBE_APISERVER_BIN: api, ETCD_BIN: join(dir, 'nope') } }), { code: 'BINARY_NOT_FOUND', message: /ETCD_BIN/ });
});

t.test('the per-version cache comes next', async (t) => {
  const cache = tempDir(t);
  const api = executable(join(cache, `kube-apiserver-v${KUBE_VERSION}`, 'kube-apiserver'));
  const etcd = executable(join(cache, `etcd-v${ETCD_VERSION}`, 'etcd'));
  const runner = new FakeRunner();
  t.same(await resolveBinaries({ runner, log: silentLogger, env: {}, cacheDir: cache }), { kubeApiserver: api, etcd });
  t.same(runner.calls, []);
});

t.test('download: checked against the published sha256, installed atomically', async (t) => {
  const binary = Buffer.from('#!/bin/sh\necho fake apiserver\n');
  const sum = createHash('sha256').update(binary).digest('hex');
  let served = binary;
  const server = createServer((req, res) => {
    if (req.url?.endsWith('.sha256')) res.end(`${sum}\n`);
    else if (req.url?.endsWith('/kube-apiserver')) res.end(served);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const cache = tempDir(t);
  executable(join(cache, `etcd-v${ETCD_VERSION}`, 'etcd'));

  const bins = await resolveBinaries({ runner: new FakeRunner(), log: silentLogger, env: {}, cacheDir: cache, downloadBase: base });
  t.equal(bins.kubeApiserver, join(cache, `kube-apiserver-v${KUBE_VERSION}`, 'kube-apiserver'));
  t.same(readFileSync(bins.kubeApiserver), binary);

  served = Buffer.from('tampered');
  const dest = join(cache, 'other', 'kube-apiserver');
  t.notOk(await tryDownload(`${base}/v${KUBE_VERSION}/bin/linux/amd64/kube-apiserver`, dest, { runner: new FakeRunner(), log: silentLogger }), 'a checksum mismatch is refused');
  t.notOk(existsSync(dest), 'and nothing is installed');
  t.notOk(await tryDownload(`${base}/missing`, dest, { runner: new FakeRunner(), log: silentLogger }), 'a 404 falls through');
});

t.test('otherwise both are built from Go modules', async (t) => {
  const cache = tempDir(t);
  const runner = fakeGo(cache);
  const fetchImpl = (() => Promise.reject(new Error('offline'))) as typeof fetch;
  const bins = await resolveBinaries({ runner, log: silentLogger, env: {}, cacheDir: cache, fetchImpl });
  t.ok(existsSync(bins.kubeApiserver) && existsSync(bins.etcd));
  const builds = runner.lines().filter((l) => l.startsWith('go build'));
  t.match(builds[0], /-ldflags=-s -w -X k8s.io\/component-base\/version.gitVersion=v1.36.3 .* -o .*kube-apiserver.tmp-\d+ k8s.io\/kubernetes\/cmd\/kube-apiserver/);
  // A machine with Debian's etcd-server >= 3.5 uses that instead of building.
  if (bins.etcd.startsWith(cache)) t.match(builds[1], /-o .*etcd.tmp-\d+ \.$/);
  else t.match(bins.etcd, /^\/usr\/(local\/)?bin\/etcd$/);
  t.equal(builds.length, bins.etcd.startsWith(cache) ? 2 : 1);
});

t.test('no Go toolchain is a clear error', async (t) => {
  if (existsSync('/usr/local/go/bin/go')) {
    t.pass('this machine has /usr/local/go; the fallback path is covered by the build test');
    return;
  }
  const runner = new FakeRunner((argv) => (argv[0] === 'go' ? new Error('not found') : undefined));
  const fetchImpl = (() => Promise.reject(new Error('offline'))) as typeof fetch;
  await t.rejects(resolveBinaries({ runner, log: silentLogger, env: {}, cacheDir: tempDir(t), fetchImpl }), { code: 'BINARY_NOT_FOUND' });
});

t.test('the toolchain at /usr/local/go is used when go is not on PATH', { skip: !existsSync('/usr/local/go/bin/go') && 'no /usr/local/go here' }, async (t) => {
  const cache = tempDir(t);
  const runner = fakeGo(cache, { onPath: false });
  const fetchImpl = (() => Promise.reject(new Error('offline'))) as typeof fetch;
  await resolveBinaries({ runner, log: silentLogger, env: {}, cacheDir: cache, fetchImpl });
  t.ok(runner.lines().filter((l) => / build /.test(l)).every((l) => l.startsWith('/usr/local/go/bin/go build')));
});

t.test('a failed build is a clear error', async (t) => {
  const cache = tempDir(t);
  const runner = new FakeRunner((argv) => (argv[0] === 'go' && argv[1] === 'mod' && argv[2] === 'download' ? new Error('proxy unreachable') : undefined));
  const fetchImpl = (() => Promise.reject(new Error('offline'))) as typeof fetch;
  await t.rejects(resolveBinaries({ runner, log: silentLogger, env: {}, cacheDir: cache, fetchImpl }), /proxy unreachable/);
});

t.test('the generated Go modules', async (t) => {
  const mod = goModuleForKube('kube-apiserver', '1.36.3', KUBERNETES_GOMOD);
  t.equal(mod.files['go.mod'], 'module kegkubebuild\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes v1.36.3\n\nreplace (\n\tk8s.io/api => k8s.io/api v0.36.3\n\tk8s.io/client-go => k8s.io/client-go v0.36.3\n)\n');
  t.match(mod.files['tools.go'], /import _ "k8s.io\/kubernetes\/cmd\/kube-apiserver"/);
  t.equal(goModuleForKube('kubelet', '1.36.3', KUBERNETES_GOMOD).pkg, 'k8s.io/kubernetes/cmd/kubelet');
  t.throws(() => goModuleForKube('kubelet', '1.36.3', 'module x\n'), /no staging modules/);
  t.match(goModuleForEtcd('3.6.8').files['go.mod'], /require go.etcd.io\/etcd\/server\/v3 v3.6.8/);
  t.match(goModuleForEtcd('3.6.8').files['main.go'], /etcdmain.Main\(os.Args\)/);
});

t.test('version comparison', async (t) => {
  t.ok(compareVersions('3.4.23', '3.5.0') < 0);
  t.ok(compareVersions('3.6.8', '3.5.0') > 0);
  t.equal(compareVersions('3.5.0', '3.5.0'), 0);
  t.ok(compareVersions('3.5', '3.5.1') < 0);
});
