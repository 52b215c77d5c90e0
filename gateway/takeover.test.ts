/**
 * The Go data path is removed from a node prepared the way the Go daemon
 * leaves it (controllers/daemon/staticgatewayconfiguration_controller.go),
 * and nothing else is touched. The "node" is a test namespace whose eth0 is
 * a bridge without ports (any link that takes addresses will do). Two
 * deliberate departures: the Go namespace gets a unique name instead of
 * ns-static-egress-gateway, because named namespaces are machine-wide and
 * this machine is shared; and its WireGuard link wg-6000 is an ifb link,
 * because this kernel has neither WireGuard nor dummy links. Like Go's, it is
 * created on the node, moved into the namespace, and gets fe80::1/64.
 */
import t from 'tap';
import { ExecRunner, inNetns, type CommandRunner } from '../lib/exec/runner.ts';
import { createLogger } from '../lib/log.ts';
import { Ip } from '../lib/net/ip.ts';
import { deleteNetns, ensureNetns, netnsPath } from '../lib/net/netns.ts';
import { existsSync } from 'node:fs';
import { tempNetns, uniqueSuffix } from '../testenv/netns.ts';
import { GO_NETNS, removeGoDatapath, planChainRemoval } from './takeover.ts';
import { ILB_IP, Lab, NODE, waitFor } from './testing/lab.ts';

const exec = new ExecRunner();
const PRIMARY = '10.224.0.4';
const SECONDARY = '10.224.0.5';
const ILB = '10.224.0.100';
const PORT = 6000;

interface GoGateway {
  primary: string;
  secondary: string;
  ilb: string;
  port: number;
}

/** A node's own things, which the cleanup must leave alone: eth0 with its primary IP, an address, a link, nat rules. */
async function prepareNode(node: CommandRunner, iptables: string): Promise<void> {
  const run = (argv: string[]) => node.run(argv);
  await run(['ip', 'link', 'add', 'eth0', 'type', 'bridge']);
  await run(['ip', 'link', 'set', 'eth0', 'up']);
  await run(['ip', 'addr', 'add', `${PRIMARY}/16`, 'dev', 'eth0']);
  await run(['ip', 'addr', 'add', '10.224.0.200/32', 'dev', 'eth0']);
  await run(['ip', 'link', 'add', 'wg-7000', 'type', 'ifb']);
  await run([iptables, '-t', 'nat', '-A', 'POSTROUTING', '-j', 'MASQUERADE']);
  await run([iptables, '-t', 'nat', '-N', 'EGRESS-CUSTOM']);
  await run([iptables, '-t', 'nat', '-A', 'POSTROUTING', '-j', 'EGRESS-CUSTOM']);
}

/** What the Go daemon programs for one gateway, step by step as its reconcile does, with `iptables` being one backend. */
async function leaveGoDatapath(node: CommandRunner, goNs: string, iptables: string, gw: GoGateway): Promise<void> {
  const run = (argv: string[]) => node.run(argv);
  const inGo = inNetns(node, netnsPath(goNs));
  const wg = `wg-${gw.port}`;
  // reconcileIlbIPOnHost
  await run(['ip', 'addr', 'add', `${gw.ilb}/32`, 'dev', 'eth0', 'label', 'eth0:egress']);
  // The secondary IP: removeSecondaryIpFromHost already took it off eth0.
  // EGRESS-GATEWAY-SNAT and EGRESS-<ip>, on the node.
  await run([iptables, '-t', 'nat', '-N', 'EGRESS-GATEWAY-SNAT']);
  await run([iptables, '-t', 'nat', '-I', 'POSTROUTING', '-m', 'comment', '--comment', 'kube-egress-gateway no MASQUERADE', '-j', 'EGRESS-GATEWAY-SNAT']);
  const ipChain = `EGRESS-${gw.secondary.replaceAll('.', '-')}`;
  await run([iptables, '-t', 'nat', '-N', ipChain]);
  await run([iptables, '-t', 'nat', '-A', ipChain, '-s', `${gw.secondary}/32`, '-j', 'ACCEPT']);
  await run([iptables, '-t', 'nat', '-I', 'EGRESS-GATEWAY-SNAT', '-m', 'comment', '--comment', `kube-egress-gateway no sNAT packet from ip ${gw.secondary}`, '-j', ipChain]);
  // reconcileWireguardLink: created on the node, moved, fe80::1/64.
  await run(['ip', 'link', 'add', wg, 'type', 'ifb']);
  await run(['ip', 'link', 'set', wg, 'netns', goNs]);
  await inGo.run(['ip', 'addr', 'add', 'fe80::1/64', 'dev', wg]);
  await inGo.run(['ip', 'link', 'set', wg, 'up']);
  // reconcileVethPair
  await run(['ip', 'link', 'add', 'host-gateway', 'type', 'veth', 'peer', 'name', 'host0']);
  await run(['ip', 'link', 'set', 'host-gateway', 'up']);
  await run(['ip', 'route', 'replace', `${gw.secondary}/32`, 'dev', 'host-gateway']);
  await run(['ip', 'link', 'set', 'host0', 'netns', goNs]);
  await inGo.run(['ip', 'addr', 'add', `${gw.secondary}/32`, 'dev', 'host0']);
  await inGo.run(['ip', 'link', 'set', 'host0', 'up']);
  await inGo.run(['ip', 'route', 'replace', `${gw.primary}/32`, 'dev', 'host0', 'scope', 'link']);
  await inGo.run(['ip', 'route', 'replace', 'default', 'via', gw.primary, 'dev', 'host0']);
  // configureGatewayNamespace: mark and SNAT chains in the Go namespace.
  await inGo.run([iptables, '-t', 'nat', '-N', `EGRESS-GATEWAY-MARK-${gw.port}`]);
  await inGo.run([iptables, '-t', 'nat', '-A', `EGRESS-GATEWAY-MARK-${gw.port}`, '-i', wg, '-j', 'CONNMARK', '--set-mark', String(gw.port)]);
  await inGo.run([iptables, '-t', 'nat', '-I', 'PREROUTING', '-m', 'comment', '--comment', `kube-egress-gateway mark packets from gateway link ${wg}`, '-j', `EGRESS-GATEWAY-MARK-${gw.port}`]);
  await inGo.run([iptables, '-t', 'nat', '-N', `EGRESS-GATEWAY-SNAT-${gw.port}`]);
  await inGo.run([iptables, '-t', 'nat', '-A', `EGRESS-GATEWAY-SNAT-${gw.port}`, '-o', 'host0', '-m', 'connmark', '--mark', String(gw.port), '-j', 'SNAT', '--to-source', gw.secondary]);
  await inGo.run([iptables, '-t', 'nat', '-I', 'POSTROUTING', '-m', 'comment', '--comment', `kube-egress-gateway sNAT packets from gateway link ${wg}`, '-j', `EGRESS-GATEWAY-SNAT-${gw.port}`]);
}

/**
 * The node's nat table as iptables-save prints it, without the comment lines
 * (they carry a date) and with chain counters zeroed: the IGMP report the
 * kernel sends once eth0 is up moves OUTPUT's counter, sometimes before the
 * save and sometimes after (a CI run failed on it).
 */
async function natTable(node: CommandRunner, iptables: string): Promise<string> {
  const { stdout } = await node.run([`${iptables}-save`, '-t', 'nat']);
  return stdout.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.replace(/ \[\d+:\d+\]$/, ' [0:0]')).join('\n');
}

async function nodeState(node: CommandRunner): Promise<{ links: string[]; addresses: string[]; routes: string[] }> {
  const ip = new Ip(node);
  return {
    links: (await ip.links()).map((l) => l.name).sort(),
    addresses: (await ip.addresses('eth0')).filter((a) => a.family === 'inet').map((a) => `${a.cidr}${a.label ? ` ${a.label}` : ''}`).sort(),
    routes: (await ip.routes()).map((r) => `${r.dst} ${r.dev ?? ''}`).sort(),
  };
}

for (const iptables of ['iptables-legacy', 'iptables-nft']) {
  t.test(`a node the Go daemon left behind, ${iptables}`, async (t) => {
    const node = await tempNetns(t, 'gotk');
    const nodeRunner = inNetns(exec, node.path);
    const goNs = `keg-gons-${uniqueSuffix()}`;
    t.teardown(() => deleteNetns(exec, goNs));
    await ensureNetns(exec, goNs);
    await prepareNode(nodeRunner, iptables);
    await leaveGoDatapath(nodeRunner, goNs, iptables, { primary: PRIMARY, secondary: SECONDARY, ilb: ILB, port: PORT });
    t.match(await natTable(nodeRunner, iptables), /EGRESS-GATEWAY-SNAT/, 'prepared');

    const logs: string[] = [];
    const log = createLogger({ level: 'debug', write: (l) => logs.push(l) });
    const report = await removeGoDatapath({ runner: nodeRunner, log, ourNetns: 'keg-gw', goNetns: goNs });
    t.same(report, { netns: true, links: 2, addresses: 1, iptables: { [iptables]: { rules: 1, chains: 2 } }, failed: [] },
      'the namespace with wg-6000 and host0 (host-gateway went with it), the ILB address, one jump and two chains on the node');
    t.notOk(existsSync(netnsPath(goNs)), 'the Go namespace is gone');
    t.same(await nodeState(nodeRunner), {
      links: ['eth0', 'lo', 'wg-7000'],
      addresses: ['10.224.0.200/32', `${PRIMARY}/16`],
      routes: ['10.224.0.0/16 eth0'],
    }, 'host-gateway and its route are gone; eth0 keeps every address but the labelled ILB IP; other links stay');
    t.equal(await natTable(nodeRunner, iptables), [
      '*nat',
      ':PREROUTING ACCEPT [0:0]',
      ':INPUT ACCEPT [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      ':POSTROUTING ACCEPT [0:0]',
      ':EGRESS-CUSTOM - [0:0]',
      '-A POSTROUTING -j MASQUERADE',
      '-A POSTROUTING -j EGRESS-CUSTOM',
      'COMMIT',
    ].join('\n'), 'only the Go chains and the jump into them are gone');
    const line = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'removed the Go data path');
    t.match(line, { level: 30, netns: true, links: 2, addresses: 1, iptables: { [iptables]: { rules: 1, chains: 2 } } }, 'what was removed is logged as counts');

    const again = await removeGoDatapath({ runner: nodeRunner, log, ourNetns: 'keg-gw', goNetns: goNs });
    t.same(again, { netns: false, links: 0, addresses: 0, iptables: {}, failed: [] }, 'a second run finds nothing');
    t.equal((await natTable(nodeRunner, iptables)).split('\n').length, 9, 'and changes nothing');
  });
}

t.test('the daemon removes the Go data path before it programs its own, and serves the same gateway', async (t) => {
  const lab = await Lab.start(t);
  const nodeRunner = inNetns(exec, lab.node.path);
  // The real name here: the daemon binary knows no other. Only this test creates it.
  t.teardown(() => deleteNetns(exec, GO_NETNS));
  await ensureNetns(exec, GO_NETNS);
  const secondary = '10.0.0.65';
  await leaveGoDatapath(nodeRunner, GO_NETNS, 'iptables-legacy', { primary: NODE.ip, secondary, ilb: ILB_IP, port: 6000 });

  const daemon = lab.startDaemon();
  t.teardown(() => { if (!t.passing()) t.comment(daemon.output()); });
  const gw = await lab.createGateway('egress-a', 6000, secondary);
  const pod = await lab.addPod('10.244.0.10', gw);
  await lab.createEndpoint('pod-a', 'egress-a', { ip: pod.ip, publicKey: pod.key.publicKey() });
  t.ok(await waitFor(async () => (await lab.gatewayPeers(6000)).length === 1, 20_000), 'peer installed');
  t.equal(await lab.sourceSeenBy(pod), secondary, 'the same gateway, served by this daemon');

  t.notOk(existsSync(netnsPath(GO_NETNS)), 'the Go namespace is gone');
  const ip = new Ip(nodeRunner);
  t.notOk(await ip.link('host-gateway'), 'host-gateway is gone');
  t.same((await ip.addresses('eth0')).filter((a) => a.local === ILB_IP), [{ dev: 'eth0', family: 'inet', local: ILB_IP, prefixlen: 32, scope: 'global', cidr: `${ILB_IP}/32` }],
    'the ILB IP is on eth0 once, as ours (no eth0:egress label)');
  t.notMatch(await natTable(nodeRunner, 'iptables-legacy'), /EGRESS-/, 'no Go chain left');
  t.match(daemon.output(), /"netns":true.*"msg":"removed the Go data path"/);
});

t.test('legacy iptables without a writable /run/xtables.lock: a failure that says what to mount', async (t) => {
  const node = await tempNetns(t, 'gotk');
  const nodeRunner = inNetns(exec, node.path);
  await nodeRunner.run(['iptables-legacy', '-t', 'nat', '-N', 'EGRESS-GATEWAY-SNAT']);
  // A container with a read-only root file system and no lock file mounted.
  const readOnlyRun: CommandRunner = {
    run: (argv, opts) => nodeRunner.run(['unshare', '-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs -o ro tmpfs /run && exec "$@"', 'sh', ...argv], opts),
  };
  const report = await removeGoDatapath({ runner: readOnlyRun, log: createLogger({ level: 'error', write: () => {} }), ourNetns: 'keg-gw', goNetns: `keg-gons-${uniqueSuffix()}` });
  t.match(report.failed, [/^iptables-legacy: mount the host's \/run\/xtables.lock into the container.*can't open lock file/]);
  t.match(await natTable(nodeRunner, 'iptables-legacy'), /EGRESS-GATEWAY-SNAT/, 'nothing half-done');
});

t.test('our own namespace is never removed, even under the Go name', async (t) => {
  const node = await tempNetns(t, 'gotk');
  const ours = `keg-gons-${uniqueSuffix()}`;
  t.teardown(() => deleteNetns(exec, ours));
  await ensureNetns(exec, ours);
  const report = await removeGoDatapath({ runner: inNetns(exec, node.path), log: createLogger({ level: 'error', write: () => {} }), ourNetns: ours, goNetns: ours });
  t.equal(report.netns, false);
  t.ok(existsSync(netnsPath(ours)));
});

t.test('planChainRemoval: only Go chain names, only jumps from outside them', async (t) => {
  const saved = [
    '*nat',
    ':POSTROUTING ACCEPT [0:0]',
    ':EGRESS-GATEWAY-SNAT - [0:0]',
    ':EGRESS-10-1-2-3 - [0:0]',
    ':EGRESS-GATEWAY-MARK-6001 - [0:0]',
    ':EGRESS-GATEWAY-SNAT-6001 - [0:0]',
    ':EGRESS-CUSTOM - [0:0]',
    ':EGRESS-GATEWAY-SNAT-x - [0:0]',
    '-A POSTROUTING -m comment --comment "kube-egress-gateway no MASQUERADE" -j EGRESS-GATEWAY-SNAT',
    '-A POSTROUTING -m comment --comment "says -j EGRESS-GATEWAY-SNAT" -j EGRESS-CUSTOM',
    '-A EGRESS-GATEWAY-SNAT -m comment --comment "kube-egress-gateway no sNAT packet from ip 10.1.2.3" -j EGRESS-10-1-2-3',
    'COMMIT',
  ].join('\n');
  t.same(planChainRemoval(saved), {
    chains: ['EGRESS-GATEWAY-SNAT', 'EGRESS-10-1-2-3', 'EGRESS-GATEWAY-MARK-6001', 'EGRESS-GATEWAY-SNAT-6001'],
    jumps: ['-A POSTROUTING -m comment --comment "kube-egress-gateway no MASQUERADE" -j EGRESS-GATEWAY-SNAT'],
  });
});
