import t from 'tap';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../lib/log.ts';
import type { Teardown } from '../../testenv/netns.ts';
import { DEFAULT_CONF_FILE, planChain } from './chain.ts';
import { parseConfFile, parseConflist, pluginEntry, withoutPlugin, withPlugin } from './conflist.ts';
import { installBinary, Installer, uninstall } from './install.ts';
import { main } from './cmd.ts';

const ENTRY = pluginEntry({ socketPath: '/run/x.sock' });
/** AKS's Azure CNI file: 0.3.0, azure-vnet then portmap. */
const AZURE = { cniVersion: '0.3.0', name: 'azure', plugins: [{ type: 'azure-vnet', mode: 'transparent', ipam: { type: 'azure-vnet-ipam' } }, { type: 'portmap', capabilities: { portMappings: true }, snat: true }] };
const OWN = DEFAULT_CONF_FILE;

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

const json = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as { cniVersion: string; name: string; plugins: { type: string }[] };

t.test('conflist edits are pure and minimal; .conf and .json read as libcni reads them', async (t) => {
  const list = parseConflist(JSON.stringify(AZURE))!;
  const chained = withPlugin(list, ENTRY)!;
  t.same(chained.plugins.map((p) => p.type), ['azure-vnet', 'portmap', 'kube-egress-cni'], 'appended last, after portmap');
  t.equal(withPlugin(chained, ENTRY), undefined, 'already there: no change');
  const moved = withPlugin(chained, pluginEntry({ socketPath: '/other.sock', logLevel: 'debug', stateDir: '/s' }))!;
  t.match(moved.plugins[2], { socketPath: '/other.sock', logLevel: 'debug', stateDir: '/s' }, 'an outdated entry of ours is replaced');
  t.same(withoutPlugin(chained), list);
  t.equal(withoutPlugin(list), undefined);
  t.equal(parseConflist('{'), undefined);
  t.equal(parseConflist('{"name":"x"}'), undefined);
  const single = { cniVersion: '0.3.1', name: 'kubenet', type: 'bridge', bridge: 'cbr0', ipam: { type: 'host-local' } };
  t.same(parseConfFile('10-kubenet.conf', JSON.stringify(single)), { cniVersion: '0.3.1', name: 'kubenet', plugins: [single] }, '.conf: one plugin, every field kept');
  t.same(parseConfFile('10-kubenet.json', JSON.stringify(single)), { cniVersion: '0.3.1', name: 'kubenet', plugins: [single] }, 'single-plugin .json');
  t.same(parseConfFile('10-azure.json', JSON.stringify(AZURE)), AZURE, '.json holding a list');
  t.equal(parseConfFile('10-x.conf', JSON.stringify(AZURE)), undefined, 'a list in a .conf has no type: libcni cannot load it');
  t.equal(parseConfFile('10-x.conflist', JSON.stringify(single)), undefined);
});

t.test('the primary is the first file libcni would load; unsupported versions and files that sort first are refused', async (t) => {
  const { conf } = dirs(t);
  t.match(planChain(conf, OWN, ENTRY), { kind: 'refuse', reason: 'no-primary' });
  writeFileSync(join(conf, '05-broken.conflist'), '{');
  writeFileSync(join(conf, '.10-hidden.conflist'), JSON.stringify(AZURE));
  writeFileSync(join(conf, '99-later.conflist'), JSON.stringify({ ...AZURE, name: 'later' }));
  writeFileSync(join(conf, '10-azure.conflist'), JSON.stringify({ ...AZURE, plugins: [...AZURE.plugins, { type: 'kube-egress-cni', socketPath: '/old' }] }));
  writeFileSync(join(conf, 'README.md'), 'not a network');
  const plan = planChain(conf, OWN, ENTRY);
  t.match(plan, { kind: 'chain', primary: '10-azure.conflist' }, 'broken, hidden and other files skipped');
  t.same(plan.kind === 'chain' && plan.list, { ...AZURE, plugins: [...AZURE.plugins, ENTRY] }, 'a copy with our entry last; an old in-place entry of ours is not duplicated');
  writeFileSync(join(conf, '07-kubenet.conf'), JSON.stringify({ cniVersion: '0.3.1', name: 'kubenet', type: 'bridge' }));
  t.match(planChain(conf, OWN, ENTRY), { kind: 'chain', primary: '07-kubenet.conf', list: { name: 'kubenet', plugins: [{ type: 'bridge' }, ENTRY] } }, 'a .conf sorting first wins over a .conflist');
  for (const v of ['0.2.0', '0.1.0', '2.0.0']) {
    writeFileSync(join(conf, '07-kubenet.conf'), JSON.stringify({ cniVersion: v, name: 'kubenet', type: 'bridge' }));
    t.match(planChain(conf, OWN, ENTRY), { kind: 'refuse', reason: 'version', message: new RegExp(`07-kubenet\\.conf has cniVersion "${v.replaceAll('.', '\\.')}"`) }, `${v} refused`);
  }
  writeFileSync(join(conf, '00-first.conflist'), JSON.stringify(AZURE));
  t.match(planChain(conf, OWN, ENTRY), { kind: 'refuse', reason: 'order', message: /00-first\.conflist sorts before 01-egressgateway\.conflist/ });
  t.match(planChain(conf, '00-aaa.conflist', ENTRY), { kind: 'chain', primary: '00-first.conflist' }, 'a name that sorts first fixes it');
});

t.test('installer: own file beside the primary, re-chained when the primary rewrites its file, unchained when it cannot serve it', async (t) => {
  const { conf, bin, src } = dirs(t);
  t.equal(installBinary(src, bin), true);
  t.equal(installBinary(src, bin), false, 'identical binary: no write');
  t.equal(statSync(join(bin, 'kube-egress-cni')).mode & 0o777, 0o755);
  const primary = join(conf, '10-azure.conflist');
  writeFileSync(primary, JSON.stringify(AZURE), { mode: 0o644 });
  const events: string[] = [];
  const logs: string[] = [];
  let uninstallRequested = false;
  const installer = new Installer({
    source: src, binDir: bin, confDir: conf, confFile: OWN, entry: ENTRY, log: createLogger({ level: 'info', write: (l) => logs.push(l) }),
    uninstallRequested: () => uninstallRequested,
    events: { written: () => events.push('written'), chained: () => events.push('chained'), refused: (r) => events.push(`refused:${r}`) },
  });
  installer.start(60_000);
  t.teardown(() => installer.stop());
  const own = join(conf, OWN);
  t.same(json(own).plugins.map((p) => p.type), ['azure-vnet', 'portmap', 'kube-egress-cni']);
  t.same(json(primary), AZURE, 'the primary file is never written');
  t.equal(statSync(own).mode & 0o777, 0o644, 'mode of the primary');
  t.same(events, ['written', 'chained']);
  installer.sync();
  t.same(events, ['written', 'chained', 'chained'], 'steady state: no write');

  const waitFor = async (what: string, cond: () => boolean) => {
    for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
    t.ok(cond(), what);
  };
  // The primary rewrites its file (an upgrade): the watcher copies it again.
  writeFileSync(primary, JSON.stringify({ ...AZURE, plugins: [{ ...AZURE.plugins[0], mode: 'bridge' }, AZURE.plugins[1]] }));
  await waitFor('re-chained within seconds', () => (json(own).plugins[0] as { mode?: string }).mode === 'bridge');
  // A version the plugin cannot serve: our file goes, the runtime uses the primary alone.
  writeFileSync(primary, JSON.stringify({ ...AZURE, cniVersion: '0.2.0' }));
  await waitFor('our file removed', () => !existsSync(own));
  t.ok(events.includes('refused:version'));
  t.ok(logs.some((l) => /"level":50.*cniVersion \\"0\.2\.0\\".*"msg":"not chaining the egress plugin"/.test(l)), 'the reason is logged');
  writeFileSync(primary, JSON.stringify(AZURE));
  await waitFor('chained again', () => existsSync(own));
  // The primary removed (its CNI uninstalled): no copy of a network that is gone.
  rmSync(primary);
  await waitFor('removed with the primary', () => !existsSync(own));
  writeFileSync(primary, JSON.stringify(AZURE));
  await waitFor('back', () => existsSync(own));

  // The binary deleted behind our back: put back before anything else; if it cannot be, unchained.
  rmSync(join(bin, 'kube-egress-cni'));
  installer.sync();
  t.ok(existsSync(join(bin, 'kube-egress-cni')), 'binary reinstalled by the check');
  rmSync(join(bin, 'kube-egress-cni'));
  rmSync(src);
  installer.sync();
  t.notOk(existsSync(own), 'no binary to install: unchained');
  t.equal(events.at(-1), 'refused:no-binary');
  writeFileSync(src, '#!/bin/true\n');
  installer.sync();
  t.ok(existsSync(own) && existsSync(join(bin, 'kube-egress-cni')), 'back once the binary can be installed');

  uninstallRequested = true;
  installer.sync();
  t.notOk(existsSync(own), 'uninstall switch: removed');
  t.equal(events.at(-1), 'refused:uninstall');
  t.same(json(primary), AZURE);
});

t.test('cni-manager install: binary and chain once, exit 0 when chained, 1 when not', async (t) => {
  const { conf, bin, src } = dirs(t);
  const args = [`--cni-conf-dir=${conf}`, `--cni-bin-dir=${bin}`, `--plugin-binary=${src}`, '--log-level=error'];
  t.equal(await main(['install', ...args]), 1, 'no primary network to chain into');
  t.ok(existsSync(join(bin, 'kube-egress-cni')), 'the binary is installed anyway');
  writeFileSync(join(conf, '10-azure.conflist'), JSON.stringify(AZURE));
  t.equal(await main(['install', ...args]), 0);
  t.same(json(join(conf, OWN)).plugins.map((p) => p.type), ['azure-vnet', 'portmap', 'kube-egress-cni']);
  t.equal(await main(['install', '--cni-conf-file=x.conf', ...args]), 2, 'validated as the agent\'s flags');
});

t.test('uninstall removes our file, in-place entries of earlier versions, and the binary', async (t) => {
  const { conf, bin, src } = dirs(t);
  installBinary(src, bin);
  writeFileSync(join(conf, OWN), JSON.stringify(withPlugin(parseConflist(JSON.stringify(AZURE))!, ENTRY)));
  writeFileSync(join(conf, '10-azure.conflist'), JSON.stringify(withPlugin(parseConflist(JSON.stringify(AZURE))!, ENTRY)));
  chmodSync(join(conf, '10-azure.conflist'), 0o600);
  const single = JSON.stringify({ cniVersion: '0.3.1', name: 'k', type: 'bridge' });
  writeFileSync(join(conf, '20-k.conf'), single);
  t.equal(await main(['uninstall', `--cni-conf-dir=${conf}`, `--cni-bin-dir=${bin}`]), 0);
  t.notOk(existsSync(join(conf, OWN)));
  t.same(json(join(conf, '10-azure.conflist')), AZURE, 'legacy in-place entry removed');
  t.equal(statSync(join(conf, '10-azure.conflist')).mode & 0o777, 0o600, 'mode kept');
  t.equal(readFileSync(join(conf, '20-k.conf'), 'utf8'), single, 'other files untouched');
  t.notOk(existsSync(join(bin, 'kube-egress-cni')), 'binary removed');
  uninstall(conf, bin, OWN);
});

t.test('cni-manager flags', async (t) => {
  const { parseManagerFlags } = await import('./flags.ts');
  t.throws(() => parseManagerFlags([], {}), { code: 'USAGE', message: /--node-name: set --node-name or \$NODE_NAME/ });
  t.throws(() => parseManagerFlags(['--socket=rel.sock'], { NODE_NAME: 'n' }), { message: /--socket: want an absolute path/ });
  t.throws(() => parseManagerFlags(['--exclude-cidrs=10.0.0.1/33'], { NODE_NAME: 'n' }), { message: /--exclude-cidrs/ });
  t.throws(() => parseManagerFlags(['--probe-interval=soon'], { NODE_NAME: 'n' }), { message: /--probe-interval.*want a duration/ });
  t.throws(() => parseManagerFlags(['--fast-recovery=maybe'], { NODE_NAME: 'n' }), { message: /--fast-recovery/ });
  t.throws(() => parseManagerFlags(['--cni-conf-file=../x.conflist'], { NODE_NAME: 'n' }), { message: /--cni-conf-file: want a file name ending in \.conflist/ });
  t.throws(() => parseManagerFlags(['--cni-conf-file=x.conf'], { NODE_NAME: 'n' }), { message: /--cni-conf-file/ });
  t.throws(() => parseManagerFlags(['--cni-uninstall-configmap-name=Bad_Name'], { NODE_NAME: 'n' }), { message: /--cni-uninstall-configmap-name: want a ConfigMap name/ });
  t.match(parseManagerFlags(['--fast-recovery=false', '--lb-probe-interval=1m'], { NODE_NAME: 'n' }), { 'fast-recovery': false, 'lb-probe-interval': 60_000 });
  t.throws(() => parseManagerFlags(['--bogus'], {}), { code: 'USAGE' });
  const f = parseManagerFlags(['--probe-interval=500ms', '--exclude-cidrs='], { NODE_NAME: 'n' });
  t.match(f, {
    'node-name': 'n', 'probe-interval': 500, 'probe-timeout': 250, 'probe-failures': 1, 'fast-recovery': true, 'lb-probe-interval': 5_000, 'exclude-cidrs': [], socket: '/var/run/kube-egress-gateway/cni.sock',
    'cni-conf-file': '01-egressgateway.conflist', 'cni-uninstall-configmap-name': 'cni-uninstall', namespace: 'kube-egress-gateway-system',
  });
  t.equal(parseManagerFlags([], { NODE_NAME: 'n', POD_NAMESPACE: 'egress' }).namespace, 'egress', 'namespace from the downward API');
  t.throws(() => parseManagerFlags(['--help']), { code: 'USAGE' }, 'help is the CLI\'s business, not a value');
  t.equal(await main(['--bogus']), 2, 'usage error exits 2');
  t.equal(await main(['--node-name=n', '--kubeconfig=/nonexistent']), 1, 'runtime error exits 1');
});
