// Our keys and configuration interoperate with a peer set up by plain
// wireguard-tools commands and a `wg genkey` key.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExecRunner } from '../exec/runner.ts';
import { WgLinks } from './link.ts';
import { generatePrivateKey, publicKeyOf } from './keys.ts';
import { addAddress, cleanupLink, ping, uniqueLinkName, underlayPair } from '../../testenv/wireguard.ts';

const runner = new ExecRunner();

t.test('a wg genkey peer configured by plain wg talks to a peer configured by our code', async (t) => {
  const links = new WgLinks(runner);
  const node = await underlayPair(t, 'iop');
  const [plainName, oursName] = [uniqueLinkName('wip'), uniqueLinkName('wio')];
  cleanupLink(t, plainName);
  cleanupLink(t, oursName);
  const plain = await links.create(plainName, { netnsPath: node.a.path });
  const ours = await links.create(oursName, { netnsPath: node.b.path });

  const plainKey = (await runner.run(['wg', 'genkey'])).stdout.trim();
  const plainPub = (await runner.run(['wg', 'pubkey'], { input: plainKey })).stdout.trim();
  const ourKey = generatePrivateKey();
  t.equal(publicKeyOf(plainKey), plainPub, 'we derive the same public key as wg pubkey');

  // The plain side: only wireguard-tools, the key read from a file as wg-quick users do.
  const keyFile = join(t.testdir({}), 'private.key');
  writeFileSync(keyFile, plainKey + '\n', { mode: 0o600 });
  const wgArgv = plain.kind === 'kernel' ? ['nsenter', `--net=${node.a.path}`, '--', 'wg'] : ['wg'];
  await runner.run([
    ...wgArgv, 'set', plain.wgName, 'private-key', keyFile,
    'peer', ourKey.publicKey(), 'endpoint', `${node.b.ip}:51821`, 'allowed-ips', '10.203.0.2/32',
  ]);

  // Our side: Wg with our generated key.
  const wg = links.wg(ours);
  await wg.configureDevice(ours.wgName, { privateKey: ourKey, listenPort: 51821 });
  await wg.setPeer(ours.wgName, { publicKey: plainPub, allowedIps: ['10.203.0.1/32'] });

  await addAddress(node.a, plain.ifname, '10.203.0.1/24');
  await addAddress(node.b, ours.ifname, '10.203.0.2/24');
  await links.setUp(plain);
  await links.setUp(ours);

  t.ok(await ping(node.a.path, '10.203.0.2'), 'plain -> ours');
  t.ok(await ping(node.b.path, '10.203.0.1'), 'ours -> plain');
  const seen = await wg.show(ours.wgName);
  t.equal(seen.peers[0]?.publicKey, plainPub);
  t.not(seen.peers[0]?.latestHandshake, null);
  const plainShown = (await runner.run([...wgArgv, 'show', plain.wgName, 'peers'])).stdout.trim();
  t.equal(plainShown, ourKey.publicKey(), 'plain wg sees our public key');

  await links.delete(plain);
  await links.delete(ours);
});
