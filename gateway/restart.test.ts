// A daemon killed and restarted while a pod streams through its gateway: the
// next daemon adopts links, rules and peers without disturbing the stream.
import t from 'tap';
import { isDeepStrictEqual } from 'node:util';
import { SECRET_KEY_PRIVATE, gatewaySecretName } from '../lib/api/constants.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import type { GatewayStatus } from '../lib/api/v1alpha1.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { generatePrivateKey } from '../lib/wireguard/keys.ts';
import { WgLinks } from '../lib/wireguard/link.ts';
import { wireguardGoPids } from '../testenv/wireguard.ts';
import { Lab, NODE, SYSTEM_NS, runner, waitFor } from './testing/lab.ts';

t.test('kill -9 and restart while traffic streams: the stream continues, nothing is duplicated', async (t) => {
  const lab = await Lab.start(t);
  let daemon = lab.startDaemon();
  t.teardown(() => { if (!t.passing()) t.comment(daemon.output()); });
  const gw = await lab.createGateway('egress-a', 6000, '10.0.0.65');
  const pod = await lab.addPod('10.244.0.10', gw);
  await lab.createEndpoint('pod-a', 'egress-a', { ip: pod.ip, publicKey: pod.key.publicKey() });
  t.ok(await waitFor(async () => (await lab.gatewayPeers(6000)).length === 1, 20_000), 'peer installed');

  const { echoed, raw } = await lab.stream(pod, '10.0.0.65');
  t.ok(await waitFor(() => echoed().length >= 5), 'stream flowing, from the secondary IP');

  const before = await lab.state();
  const pids = wireguardGoPids(`${lab.linkPrefix}6000`);
  const peersBefore = await lab.gatewayPeers(6000);
  daemon.proc.kill('SIGKILL');
  await daemon.exited;
  const atKill = echoed().length;
  t.ok(await waitFor(() => echoed().length >= atKill + 5), 'the tunnel does not depend on the daemon process');

  daemon = lab.startDaemon();
  t.ok(await waitFor(async () => (await lab.httpStatus(`/gw/${gw.uid}`)) === 200, 20_000), 'the new daemon serves the gateway');
  t.ok(await waitFor(() => daemon.output().includes('gateway programmed'), 10_000), 'and has re-applied everything');
  const atRestart = echoed().length;
  t.ok(await waitFor(() => echoed().length >= atRestart + 10), 'the stream continues');
  t.notMatch(raw(), /closed|error/, 'the connection never broke');
  // The chunk with the greeting (and maybe line 1) went to spawnIn's readiness check.
  const seq = echoed();
  t.ok(seq[0]! <= 2);
  t.same(seq, seq.map((_, i) => seq[0]! + i), 'every line came back once, in order');

  t.same(await lab.state(), before, 'ip and nft state identical: no link, address, route, rule or table duplicated');
  t.same(wireguardGoPids(`${lab.linkPrefix}6000`), pids, 'the same wireguard-go process: the link was adopted, not recreated');
  t.same(await lab.gatewayPeers(6000), peersBefore);
});

const b64 = (s: string) => Buffer.from(s).toString('base64');

t.test('a restarted daemon removes what went away while it was down, and reports a key it cannot use', async (t) => {
  const lab = await Lab.start(t);
  const empty = await lab.state();
  let daemon = lab.startDaemon();
  t.teardown(() => { if (!t.passing()) t.comment(daemon.output()); });
  const a = await lab.createGateway('egress-a', 6000, '10.0.0.65');
  t.ok(await waitFor(async () => (await lab.httpStatus(`/gw/${a.uid}`)) === 200, 20_000));
  daemon.proc.kill('SIGKILL');
  await daemon.exited;

  // While it is down: A goes away, B arrives with a Secret that does not match its public key,
  // and a link is left in the node namespace as by a crash between create and move.
  await lab.deleteGateway('egress-a');
  const b = await lab.createGateway('egress-b', 6001, '10.0.0.66');
  const secretPath = resourcePath(CORE.secrets, SYSTEM_NS, gatewaySecretName(b.uid));
  await lab.kube.rest.patch(secretPath, { data: { [SECRET_KEY_PRIVATE]: b64(generatePrivateKey().revealBase64()) } });
  const stray = await new WgLinks(runner).create(`${lab.linkPrefix}6002`, { netnsPath: lab.node.path });
  t.teardown(() => runner.run(['rm', '-f', `/var/run/wireguard/${stray.wgName}.sock`]));

  daemon = lab.startDaemon(['--node-name', NODE.name, '--resync-interval', '2s']);
  const status = () => lab.kube.rest.get<GatewayStatus>(resourcePath(RESOURCES.GatewayStatus, SYSTEM_NS, NODE.name));
  t.ok(await waitFor(async () => /does not hold the private key/.test((await status()).status?.gateways?.[0]?.message ?? ''), 20_000), 'the key mismatch is reported in the status');
  t.equal(await lab.httpStatus(`/gw/${b.uid}`), 503, 'and the gateway is not ready');
  t.notMatch(daemon.output(), gatewaySecretName(b.uid) + '.*PrivateKey.*[A-Za-z0-9+/]{43}=', 'no key in the log');
  t.ok(await waitFor(async () => {
    const s = await lab.state();
    return !s.node.some((l) => /10\.0\.0\.65|6002/.test(l)) && !(s.gw ?? []).some((l) => /6000/.test(l)) && !s.nodeNft.includes('keg_gw_6000');
  }), 'A and the stray link are gone');

  await lab.kube.rest.patch(secretPath, { data: { [SECRET_KEY_PRIVATE]: b64(b.key.revealBase64()) } });
  t.ok(await waitFor(async () => (await lab.httpStatus(`/gw/${b.uid}`)) === 200, 20_000), 'the fixed key is picked up');
  await lab.deleteGateway('egress-b');
  t.ok(await waitFor(async () => isDeepStrictEqual(await lab.state(), empty), 20_000), 'and after B goes, the node is as before');
});
