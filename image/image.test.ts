// The built image, run with runc the way its pods run it: the CLI and each
// part answer, the tools work inside a node's network namespace, and the node
// agent installs the CNI executable and its conflist entry into host
// directories mounted where the DaemonSet mounts them.
// `npm test` builds the image once beforehand (testenv/bin/prepare.ts); run
// alone, this file builds it when it is missing or out of date.
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecRunner } from '../lib/exec/runner.ts';
import { silentLogger } from '../lib/log.ts';
import { VERSION } from '../lib/version.ts';
import { startTestKube } from '../testenv/kubeapi/index.ts';
import { freePorts } from '../testenv/kubeapi/ports.ts';
import { tempNetns } from '../testenv/netns.ts';
import { until } from '../testenv/wait.ts';
import { buildImage, IMAGE_REF } from './build.ts';
import { PLUGIN_PATH } from './stage.ts';
import { UnpackedImage } from './testing/container.ts';

t.setTimeout(900_000);
const { archive } = await buildImage({ log: silentLogger });
const image = await UnpackedImage.unpack(t, archive, IMAGE_REF);

t.test('image config: entrypoint, non-root user, OCI labels with the version', async (t) => {
  const { config } = image.imageConfig;
  t.same(config.Entrypoint, ['kube-egress-gateway']);
  t.equal(config.User, '65532:65532');
  t.match(config.Labels, { 'org.opencontainers.image.title': 'kube-egress-gateway', 'org.opencontainers.image.version': VERSION, 'org.opencontainers.image.licenses': 'MIT' });
  t.match(config.Labels?.['org.opencontainers.image.revision'], /^[0-9a-f]{40}(-dirty)?$/);
  const dockerfile = readFileSync(new URL('../Dockerfile', import.meta.url), 'utf8');
  t.match(dockerfile, `ARG VERSION=${VERSION}\n`, 'the Dockerfile\'s default version is package.json\'s, for builds without --build-arg');
  t.ok(statSync(archive).size < 200_000_000, `archive stays lean (${(statSync(archive).size / 1e6).toFixed(0)} MB)`);
});

t.test('the CLI runs as uid 65532 by default and answers --version and --help', async (t) => {
  t.same(await image.run(t, { args: ['id', '-u'] }), { code: 0, stdout: '65532\n', stderr: '' });
  const version = await image.run(t, { args: ['kube-egress-gateway', '--version'] });
  t.same(version, { code: 0, stdout: `kube-egress-gateway ${VERSION}\n`, stderr: '' });
  const usage = await image.run(t);
  t.equal(usage.code, 0, 'the default CMD is --help');
  // Every command, in order; a long one widens the column and wraps the descriptions.
  t.match(usage.stdout, /Commands:\n {2}operator [^]*\n {2}gateway [^]*\n {2}cni-manager [^]*\n {2}wireguard-host [^]*\n {2}doctor /);
});

t.test('each part starts and answers --help under its pod\'s user', async (t) => {
  // operator: the image's user; gateway and cni-manager: runAsUser 0.
  for (const [part, uid] of [['operator', undefined], ['gateway', 0], ['cni-manager', 0]] as const) {
    const out = await image.run(t, { args: ['kube-egress-gateway', part, '--help'], ...(uid !== undefined && { uid }) });
    t.equal(out.code, 0, `${part} --help exits 0`);
    t.match(out.stdout, `Usage: kube-egress-gateway ${part} [options]`);
  }
  const bad = await image.run(t, { args: ['kube-egress-gateway', 'gateway', '--no-such-flag'], uid: 0 });
  t.equal(bad.code, 2, 'a bad flag is a usage error');
  t.match(bad.stderr, /unknown option '--no-such-flag'/, 'naming the flag');
});

t.test('the tools the parts run are present and work in a node\'s network namespace', async (t) => {
  const ns = await tempNetns(t, 'img');
  const versions = await image.run(t, {
    args: ['sh', '-c', 'ip -V && nft --version && wg --version && wireguard-go --version && sysctl --version && nsenter --version && setsid --version && iptables-nft-save --version && iptables-legacy-save --version'],
    uid: 0, network: ns.path,
  });
  t.equal(versions.code, 0, versions.stderr);
  for (const re of [/^ip utility, iproute2/m, /^nftables v1\./m, /^wireguard-tools v1\./m, /^wireguard-go v0\./m, /procps-ng/, /^nsenter from util-linux/m, /^setsid from util-linux/m, /^iptables-nft-save v1\./m, /^iptables-save v1\.[0-9.]+ \(legacy\)$/m]) {
    t.match(versions.stdout, re);
  }
  // What the gateway does on a node without kernel WireGuard, in miniature.
  const script = [
    'wireguard-go wgimg0', 'wg set wgimg0 listen-port 51820', 'ip link set wgimg0 up',
    'nft add table inet kegimg', 'sysctl -q -w net.ipv4.ip_forward=1',
    'wg show wgimg0 listen-port', 'ip -j link show wgimg0', 'nft -j list tables',
  ].join(' && ');
  const out = await image.run(t, { args: ['sh', '-c', script], uid: 0, network: ns.path, privileged: true, tmpfs: ['/run'] });
  t.equal(out.code, 0, `runs as the gateway would: ${out.stderr}`);
  t.match(out.stdout, /^51820$/m, 'wireguard-go serves wg');
  t.match(out.stdout, /"ifname": ?"wgimg0"/);
  t.match(out.stdout, /"name": ?"kegimg"/);
});

t.test('cni-manager installs the CNI executable and its conflist entry into host directories', async (t) => {
  const kube = await startTestKube(t);
  const host = mkdtempSync(join(tmpdir(), 'keg-img-host-'));
  t.teardown(() => rmSync(host, { recursive: true, force: true }));
  const dir = (name: string): string => {
    mkdirSync(join(host, name), { recursive: true });
    return join(host, name);
  };
  const [bin, conf, run, state] = [dir('opt/cni/bin'), dir('etc/cni/net.d'), dir('run'), dir('var/lib')];
  const primary = { cniVersion: '1.0.0', name: 'azure', plugins: [{ type: 'azure-vnet', mode: 'transparent' }] };
  writeFileSync(join(conf, '10-azure.conflist'), JSON.stringify(primary));
  const [metricsPort] = await freePorts(1);
  // The DaemonSet's hostPath mounts, at the agent's default paths.
  const agent = image.start(t, {
    args: ['kube-egress-gateway', 'cni-manager', '--kubeconfig', '/etc/kube/kubeconfig', '--node-name', 'node-a', '--metrics-bind-address', `127.0.0.1:${metricsPort}`],
    uid: 0, network: 'host', privileged: true,
    binds: [[bin, '/opt/cni/bin', 'rw'], [conf, '/etc/cni/net.d', 'rw'], [run, '/run/kube-egress-gateway', 'rw'], [state, '/var/lib/kube-egress-gateway', 'rw'], [kube.kubeconfigPath, '/etc/kube/kubeconfig', 'ro']],
  });
  // Chained through a conflist of its own: a copy of the primary with our entry last.
  const own = join(conf, '01-egressgateway.conflist');
  const chained = await until('the conflist entry', () => {
    if (!existsSync(own)) return false;
    const list = JSON.parse(readFileSync(own, 'utf8')) as typeof primary;
    return list.plugins.length === 2 && list.plugins;
  }, 60_000);
  t.match(chained[0], primary.plugins[0], 'the primary plugin first');
  t.match(chained[1], { type: 'kube-egress-cni', socketPath: '/var/run/kube-egress-gateway/cni.sock' });
  t.same(JSON.parse(readFileSync(join(conf, '10-azure.conflist'), 'utf8')), primary, 'the primary\'s own file is left as it was');
  const plugin = join(bin, 'kube-egress-cni');
  t.equal(statSync(plugin).mode & 0o777, 0o755);
  t.equal(statSync(plugin).size, statSync(join(image.bundle, 'rootfs', PLUGIN_PATH)).size, 'the image\'s executable, found at --plugin-binary\'s default');
  // The host has no Node: the installed file runs on its own.
  const version = await new ExecRunner().run([plugin], { env: { CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"1.0.0"}' });
  t.match(JSON.parse(version.stdout), { cniVersion: '1.0.0' });
  t.ok(statSync(join(run, 'cni.sock')).isSocket(), 'the plugin\'s socket is on the host path');
  const health = await until('/healthz', async () => (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status === 200, 30_000);
  t.ok(health);
  await agent.kill('TERM');
  t.match(await agent.exited, { code: 0 }, 'stops cleanly on SIGTERM');

  const removed = await image.run(t, { args: ['kube-egress-gateway', 'cni-manager', 'uninstall'], uid: 0, binds: [[bin, '/opt/cni/bin', 'rw'], [conf, '/etc/cni/net.d', 'rw']] });
  t.equal(removed.code, 0, removed.stderr);
  t.notOk(existsSync(own), 'uninstall removes our conflist');
  t.same(JSON.parse(readFileSync(join(conf, '10-azure.conflist'), 'utf8')), primary, 'and leaves the primary\'s');
  t.throws(() => statSync(plugin), 'and removes the executable');
});
