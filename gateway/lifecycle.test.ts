// Probe, status, metrics, node identity from IMDS, drain, complete removal, and the uninstall switch.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { RESOURCES } from '../lib/api/resources.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { startImdsEmulator } from '../testenv/azure/imds/server.ts';
import type { GatewayStatus } from '../lib/api/v1alpha1.ts';
import { Lab, NODE, SYSTEM_NS, waitFor } from './testing/lab.ts';

/** A sample's value in metrics text, NaN when absent. */
const value = (text: string, name: string, labels: string) => Number(new RegExp(`^${name}\\{${labels},component="gateway"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);

t.test('probe, GatewayStatus and metrics through a gateway\'s life; SGC deletion leaves nothing behind; drain on SIGTERM; with the uninstall switch on, SIGTERM removes everything', async (t) => {
  const lab = await Lab.start(t);
  const imds = await startImdsEmulator({
    default: { name: 'gwpool_0', computerName: NODE.name.toUpperCase(), vmScaleSetName: 'gwpool', resourceGroupName: 'rg', subscriptionId: 'sub', privateIps: [NODE.ip] },
  });
  t.teardown(() => imds.close());
  await lab.forwardToNode(imds.port);
  const empty = await lab.state();
  // What a restarted container finds in its pod's emptyDir: the previous daemon's file.
  const started = join(t.testdir(), 'serving-probes');
  writeFileSync(started, 'stale\n');
  let daemon = lab.startDaemon(['--imds-endpoint', imds.url, '--drain-seconds', '3', '--resync-interval', '2s', '--started-file', started]);
  t.teardown(() => { if (!t.passing()) t.comment(daemon.output()); });

  t.ok(await waitFor(async () => (await lab.httpStatus('/readyz', 8080)) === 200, 20_000), 'daemon up, probes bound after its first pass');
  t.match(readFileSync(started, 'utf8'), /^\d+\n$/, '--started-file: written anew by this daemon once it serves probes');
  t.equal(await lab.httpStatus('/gw/00000000-0000-0000-0000-000000000000'), 503, 'unknown UID: 503');
  for (const bad of ['/gw/', '/gw/not-a-uid', '/gw/../etc/passwd', '/gw/00000000-0000-0000-0000-000000000000/x']) {
    t.equal(await lab.httpStatus(bad), 400, `malformed ${bad}: 400`);
  }

  // The SGC exists, but the operator has not listed this node yet: not programmed.
  const gw = await lab.createGateway('egress-a', 6000, '10.0.0.65', [{ nodeName: 'another-node', primaryIP: '10.0.0.9', secondaryIP: '10.0.0.70' }]);
  await new Promise((r) => setTimeout(r, 2500));
  t.equal(await lab.httpStatus(`/gw/${gw.uid}`), 503, 'before programming: 503');
  t.same(await lab.state(), empty, 'nothing programmed for a node that does not serve the SGC');

  await lab.setVmProfiles('egress-a', [{ nodeName: NODE.name, primaryIP: NODE.ip, secondaryIP: '10.0.0.65' }]);
  t.ok(await waitFor(async () => (await lab.httpStatus(`/gw/${gw.uid}`)) === 200, 10_000), 'after programming: 200 (node name came from IMDS)');
  const pod = await lab.addPod('10.244.0.10', gw);
  await lab.createEndpoint('pod-a', 'egress-a', { ip: pod.ip, publicKey: pod.key.publicKey() });
  t.ok(await waitFor(async () => (await lab.gatewayPeers(6000)).length === 1));
  t.equal(await lab.sourceSeenBy(pod), '10.0.0.65');

  const status = await waitFor(async () => {
    const obj = await lab.kube.rest.get<GatewayStatus>(resourcePath(RESOURCES.GatewayStatus, SYSTEM_NS, NODE.name)).catch(() => undefined);
    return obj?.status?.gateways?.[0]?.peerCount === 1;
  });
  t.ok(status !== undefined, 'GatewayStatus counts the peer');
  const obj = await lab.kube.rest.get<GatewayStatus>(resourcePath(RESOURCES.GatewayStatus, SYSTEM_NS, NODE.name));
  t.match(obj.status?.gateways, [{ staticGatewayConfiguration: 'app/egress-a', uid: gw.uid, interfaceName: `${lab.linkPrefix}6000`, port: 6000, ready: true, peerCount: 1, lastProgrammed: /^\d{4}-/ }]);
  t.notMatch(JSON.stringify(obj), pod.key.publicKey(), 'no per-peer data in the status');
  t.notMatch(JSON.stringify(obj), gw.key.revealBase64(), 'no key in the status');

  const metrics = await lab.httpBody('/metrics', 8080);
  t.match(metrics, /keg_gateway_peers\{gateway="app\/egress-a",component="gateway"\} 1/);
  t.match(metrics, /keg_gateway_bytes\{gateway="app\/egress-a",direction="in",component="gateway"\} [1-9]/);
  t.match(metrics, /keg_gateway_oldest_handshake_age_seconds\{gateway="app\/egress-a",component="gateway"\} \d/);
  t.match(metrics, /keg_gateway_peer_programming_seconds_count\{[^}]*gateway="app\/egress-a"[^}]*\} 1/);
  const sgcLabels = 'gateway="app/egress-a"';
  for (const direction of ['egress', 'return']) {
    t.ok(value(metrics, 'keg_gateway_traffic_packets_total', `${sgcLabels},direction="${direction}"`) > 0, `${direction} packets counted by the gateway's nft counters`);
  }
  t.equal(value(metrics, 'keg_gateway_peers_recent_handshake', sgcLabels), 1, 'the pod handshook with this node');
  t.ok(value(metrics, 'keg_gateway_conntrack_entries', sgcLabels) >= 1, 'its connection is tracked');
  t.ok(value(metrics, 'keg_gateway_snat_ports_in_use', `${sgcLabels},protocol="tcp"`) >= 1, 'and took an SNAT port of the egress IP');
  t.equal(value(metrics, 'keg_gateway_snat_ports_available', sgcLabels), 64512);
  const egressed = value(metrics, 'keg_gateway_traffic_bytes_total', `${sgcLabels},direction="egress"`);
  await lab.sourceSeenBy(pod);
  await new Promise((r) => setTimeout(r, 1100));
  const after = await lab.httpBody('/metrics', 8080);
  t.ok(value(after, 'keg_gateway_traffic_bytes_total', `${sgcLabels},direction="egress"`) > egressed, 'the egress byte counter moves with traffic');
  t.notMatch(daemon.output(), gw.key.revealBase64(), 'the private key never reaches the log');

  await lab.deleteEndpoint('pod-a');
  await lab.deleteGateway('egress-a');
  t.ok(await waitFor(async () => (await lab.state()).gw === undefined, 10_000), 'gateway namespace removed');
  t.equal(await lab.httpStatus(`/gw/${gw.uid}`), 503, 'its probe path answers 503 again');
  t.same(await lab.state(), empty, 'node: no link, rule, route, address or nft table left (full ip and nft state as before)');
  t.ok(await waitFor(async () => {
    const o = await lab.kube.rest.get<GatewayStatus>(resourcePath(RESOURCES.GatewayStatus, SYSTEM_NS, NODE.name));
    return (o.status?.gateways ?? []).length === 0;
  }), 'GatewayStatus lists no gateway');

  // A gateway again; the node gets its Node object, which the daemon watches.
  const gw2 = await lab.createGateway('egress-b', 6001, '10.0.0.66');
  t.ok(await waitFor(async () => (await lab.httpStatus(`/gw/${gw2.uid}`)) === 200, 10_000));
  const nodePath = resourcePath(CORE.nodes, undefined, NODE.name);
  await lab.kube.rest.create(resourcePath(CORE.nodes), { metadata: { name: NODE.name } });
  const cordon = (on: boolean) => lab.kube.rest.patch(nodePath, { spec: { unschedulable: on } });
  const linkLeft = async () => (await lab.state()).gw?.some((l) => l.includes(`${lab.linkPrefix}6001`)) === true;

  // A restart on a node that stays: SIGTERM exits at once, without failing a probe first.
  const probes: number[] = [];
  const polling = new AbortController();
  const poll = (async () => {
    while (!polling.signal.aborted) {
      probes.push(await lab.httpStatus(`/gw/${gw2.uid}`).catch(() => 0));
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  daemon.proc.kill('SIGTERM');
  t.equal(await daemon.exited, 0, 'a restart exits 0');
  t.notOk(existsSync(started), '--started-file removed at exit');
  polling.abort();
  await poll;
  t.match(daemon.output(), /node not going away: exiting without a drain/, 'without a drain');
  t.notOk(probes.includes(503), 'no probe answered 503: a restart is no drain');
  t.ok(await linkLeft(), 'the data path stays');
  // No lead for the node agents here (gateway/probe.test.ts has it): the load balancer's view at once.
  daemon = lab.startDaemon(['--imds-endpoint', imds.url, '--drain-seconds', '3', '--resync-interval', '2s', '--drain-agent-lead', '0s']);
  t.ok(await waitFor(async () => (await lab.httpStatus(`/gw/${gw2.uid}`)) === 200, 20_000), 'the next daemon serves it');

  // Cordoned: the probe fails while the daemon runs (the load balancer moves
  // new flows away before the node goes), and serves again when uncordoned.
  await cordon(true);
  t.ok(await waitFor(async () => (await lab.httpStatus(`/gw/${gw2.uid}`)) === 503, 5_000), 'cordoned: 503');
  t.equal(await lab.httpStatus('/readyz', 8080), 503, 'not ready while the node is cordoned');
  t.equal(await lab.httpBody(`/gw/${gw2.uid}`, 8082), 'draining\n', 'the 503 says the node drains (node agents keep open connections on it)');
  t.ok(await linkLeft(), 'still forwarding: the data path is untouched');
  await cordon(false);
  t.ok(await waitFor(async () => (await lab.httpStatus(`/gw/${gw2.uid}`)) === 200, 5_000), 'uncordoned: 200 again');

  // Planned drain: cordon, then SIGTERM at once (before the watch may have
  // delivered the cordon): probes fail for the drain period, then exit 0.
  await cordon(true);
  const term = performance.now();
  daemon.proc.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 1_000));
  t.equal(await lab.httpStatus(`/gw/${gw2.uid}`), 503, 'draining: 503');
  t.equal(await daemon.exited, 0, 'exits 0 after the drain');
  t.match(daemon.output(), /node going away: failing probes before exit/, 'it drained');
  t.ok(performance.now() - term >= 2900, 'not before --drain-seconds');
  t.ok(await linkLeft(), 'and leaves the data path for the next daemon');

  // Uninstall: with the switch on (the agent's ConfigMap), a stopping daemon removes its data path.
  await cordon(false);
  daemon = lab.startDaemon(['--imds-endpoint', imds.url, '--resync-interval', '2s']);
  t.ok(await waitFor(async () => (await lab.httpStatus(`/gw/${gw2.uid}`)) === 200, 20_000), 'serving again');
  await lab.kube.rest.create(resourcePath(CORE.configMaps, SYSTEM_NS), { metadata: { name: 'cni-uninstall' }, data: { uninstall: 'true' } });
  t.ok(await waitFor(async () => daemon.output().includes('uninstall requested'), 10_000), 'the daemon sees the switch');
  t.ok(await linkLeft(), 'the switch alone changes nothing');
  daemon.proc.kill('SIGTERM');
  t.equal(await daemon.exited, 0, 'exits 0');
  t.match(daemon.output(), /data path removed/);
  t.same(await lab.state(), empty, 'node: no link, rule, route, address or nft table left');
});
