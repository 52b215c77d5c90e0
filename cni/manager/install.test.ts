import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../lib/log.ts';
import type { Teardown } from '../../testenv/netns.ts';
import { pluginEntry, parseConflist, withPlugin, withoutPlugin } from './conflist.ts';
import { ensureChained, installBinary, Installer, primaryConflist, uninstall } from './install.ts';
import { main } from './cmd.ts';

const ENTRY = pluginEntry({ socketPath: '/run/x.sock' });
const PRIMARY = { cniVersion: '1.0.0', name: 'azure', plugins: [{ type: 'azure-vnet', mode: 'transparent' }, { type: 'portmap', capabilities: { portMappings: true } }] };

function dirs(t: Teardown) {
  const root = mkdtempSync(join(tmpdir(), 'keg-inst-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const conf = join(root, 'net.d');
  const bin = join(root, 'bin');
  for (const d of [conf, bin]) mkdirSync(d, { recursive: true });
  const src = join(root, 'kube-egress-cni.src');
  writeFileSync(src, '#!/bin/true\n');
  return { root, conf, bin, src };
}

t.test('conflist edits are pure and minimal', async (t) => {
  const list = parseConflist(JSON.stringify(PRIMARY))!;
  const chained = withPlugin(list, ENTRY)!;
  t.same(chained.plugins.map((p) => p.type), ['azure-vnet', 'portmap', 'kube-egress-cni'], 'appended last, after portmap');
  t.equal(withPlugin(chained, ENTRY), undefined, 'already there: no change');
  const moved = withPlugin(chained, pluginEntry({ socketPath: '/other.sock', logLevel: 'debug', stateDir: '/s' }))!;
  t.match(moved.plugins[2], { socketPath: '/other.sock', logLevel: 'debug', stateDir: '/s' }, 'an outdated entry of ours is replaced');
  t.same(withoutPlugin(chained), list);
  t.equal(withoutPlugin(list), undefined);
  t.equal(parseConflist('{'), undefined);
  t.equal(parseConflist('{"name":"x"}'), undefined);
});

t.test('installs the binary, chains atomically, re-chains when the primary rewrites its conflist, uninstalls', async (t) => {
  const { conf, bin, src } = dirs(t);
  t.equal(installBinary(src, bin), true);
  t.equal(installBinary(src, bin), false, 'identical binary: no write');
  t.equal(statSync(join(bin, 'kube-egress-cni')).mode & 0o777, 0o755);
  t.throws(() => ensureChained(conf, ENTRY), { code: 'CNI_NO_CONFLIST' });
  writeFileSync(join(conf, '99-other.conflist'), JSON.stringify({ ...PRIMARY, name: 'later' }));
  writeFileSync(join(conf, '05-broken.conflist'), '{');
  writeFileSync(join(conf, '10-azure.conflist'), JSON.stringify(PRIMARY), { mode: 0o644 });
  t.equal(primaryConflist(conf)?.path, join(conf, '10-azure.conflist'), 'the first valid conflist by name');

  const installer = new Installer({ source: src, binDir: bin, confDir: conf, entry: ENTRY, log: silentLogger });
  let writes = 0;
  installer.onWrite = () => writes++;
  installer.start(60_000);
  t.teardown(() => installer.stop());
  const read = () => JSON.parse(readFileSync(join(conf, '10-azure.conflist'), 'utf8')) as typeof PRIMARY;
  t.same(read().plugins.map((p) => p.type), ['azure-vnet', 'portmap', 'kube-egress-cni']);
  t.equal(statSync(join(conf, '10-azure.conflist')).mode & 0o777, 0o644, 'mode kept');

  // The primary CNI rewrites its file (an upgrade): the watcher chains again.
  writeFileSync(join(conf, '10-azure.conflist'), JSON.stringify(PRIMARY));
  for (let i = 0; i < 100 && read().plugins.length !== 3; i++) await new Promise((r) => setTimeout(r, 50));
  t.same(read().plugins.map((p) => p.type), ['azure-vnet', 'portmap', 'kube-egress-cni'], 're-applied after the change');
  t.equal(writes, 2);
  installer.sync();
  t.equal(writes, 2, 'steady state: no write');

  t.equal(await main(['uninstall', `--cni-conf-dir=${conf}`, `--cni-bin-dir=${bin}`]), 0);
  t.same(read(), PRIMARY, 'entry removed');
  t.notOk(existsSync(join(bin, 'kube-egress-cni')), 'binary removed');
  uninstall(conf, bin);
});

t.test('cni-manager flags', async (t) => {
  const { parseManagerFlags } = await import('./flags.ts');
  t.throws(() => parseManagerFlags([], {}), { code: 'USAGE', message: /--node-name: set --node-name or \$NODE_NAME/ });
  t.throws(() => parseManagerFlags(['--socket=rel.sock'], { NODE_NAME: 'n' }), { message: /--socket: want an absolute path/ });
  t.throws(() => parseManagerFlags(['--exclude-cidrs=10.0.0.1/33'], { NODE_NAME: 'n' }), { message: /--exclude-cidrs/ });
  t.throws(() => parseManagerFlags(['--probe-interval=soon'], { NODE_NAME: 'n' }), { message: /--probe-interval: want a duration/ });
  t.throws(() => parseManagerFlags(['--fast-recovery=maybe'], { NODE_NAME: 'n' }), { message: /--fast-recovery/ });
  t.match(parseManagerFlags(['--fast-recovery=false', '--lb-probe-interval=1m'], { NODE_NAME: 'n' }), { 'fast-recovery': false, 'lb-probe-interval': 60_000 });
  t.throws(() => parseManagerFlags(['--bogus'], {}), { code: 'USAGE' });
  const f = parseManagerFlags(['--probe-interval=500ms', '--exclude-cidrs='], { NODE_NAME: 'n' });
  t.match(f, { 'node-name': 'n', 'probe-interval': 500, 'probe-timeout': 1000, 'fast-recovery': true, 'lb-probe-interval': 5_000, 'exclude-cidrs': [], socket: '/var/run/kube-egress-gateway/cni.sock', help: false });
  t.same(parseManagerFlags(['--help']).help, true);
  t.equal(await main(['--bogus']), 2, 'usage error exits 2');
  t.equal(await main(['--node-name=n', '--kubeconfig=/nonexistent']), 1, 'runtime error exits 1');
});
