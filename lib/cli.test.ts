import t from 'tap';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMMON_OPTIONS, parseBindAddress, parseFlags } from './cli.ts';
import { loadKubeConfig } from './kube/config.ts';

t.test('flags are parsed strictly', async (t) => {
  const v = parseFlags(['--log-level', 'debug', '--kubeconfig=/x'], COMMON_OPTIONS);
  t.equal(v['log-level'], 'debug');
  t.equal(v.kubeconfig, '/x');
  t.equal(v['metrics-bind-address'], ':8080');
  t.throws(() => parseFlags(['--nope'], COMMON_OPTIONS), { code: 'USAGE', message: /--nope/ });
  t.throws(() => parseFlags(['--kubeconfig'], COMMON_OPTIONS), { code: 'USAGE', message: /kubeconfig/ });
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
});
