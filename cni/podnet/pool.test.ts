// The spare WireGuard link pool, with real links (wireguard-go where the
// kernel has no WireGuard) in a namespace the test owns. Needs root.
import t from 'tap';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecRunner, inNetns } from '../../lib/exec/runner.ts';
import { silentLogger } from '../../lib/log.ts';
import { WgLinks } from '../../lib/wireguard/link.ts';
import { type Teardown, tempNetns } from '../../testenv/netns.ts';
import { waitForWireguardGoGone } from '../../testenv/wireguard.ts';
import { LinkPool, SPARE_PREFIX } from './pool.ts';

async function setup(t: Teardown) {
  const ns = await tempNetns(t, 'pool');
  const dir = mkdtempSync(join(tmpdir(), 'keg-pool-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const links = new WgLinks(inNetns(new ExecRunner(), ns.path));
  const onNode = async () => (await links.list()).map((l) => l.wgName).toSorted();
  const ledger = () => readdirSync(dir).map((f) => decodeURIComponent(f.replace(/\.json$/, ''))).toSorted();
  const pool = (size: number) => new LinkPool({ links, size, dir, log: silentLogger });
  // wireguard-go lives in the namespace its tun is in and keeps it alive, so
  // every link a test leaves is deleted here, before the namespace goes.
  t.teardown(async () => {
    const names = new Set([...ledger(), ...(await links.list()).map((l) => l.wgName)]);
    for (const name of names) await links.delete({ ifname: name, wgName: name, kind: links.mode ?? 'userspace' }).catch(() => {});
  });
  return { links, onNode, ledger, pool, dir };
}

t.test('keeps spares ready, hands one out, refills when asked, deletes the spares at stop', async (t) => {
  const { links, onNode, ledger, pool: make } = await setup(t);
  const pool = make(2);
  await pool.start(new Set());
  await pool.idle();
  t.equal(pool.spares.length, 2, 'two spares');
  t.same(await onNode(), pool.spares.toSorted(), 'they are links in the namespace');
  t.same(ledger(), pool.spares.toSorted(), 'and in the ledger');
  t.ok(pool.spares.every((n) => n.startsWith(SPARE_PREFIX) && n.length <= 15));
  const spares = [...pool.spares];

  const link = await pool.take();
  t.equal(link.wgName, spares[0], 'the oldest spare');
  t.equal((await links.wg(link).show(link.wgName)).publicKey, null, 'unkeyed');
  t.same(ledger(), spares.toSorted(), 'still the pool\'s until claimed');
  pool.claimed(link);
  t.same(ledger(), [spares[1]], 'claimed: out of the ledger');
  t.equal(pool.spares.length, 1, 'no refill during the ADD');
  pool.refill();
  await pool.idle();
  t.equal(pool.spares.length, 2, 'refilled');

  const left = [...pool.spares];
  await pool.stop();
  t.same(await onNode(), [link.wgName], 'stop deleted the spares, not the claimed link');
  t.same(ledger(), []);
  for (const name of left) t.notOk(existsSync(links.socketPath(name)), `no socket left for ${name}`);
  if (links.mode === 'userspace') for (const name of left) await waitForWireguardGoGone(name);
  await links.delete(link);
});

t.test('an empty pool creates the link during the take', async (t) => {
  const { links, onNode, ledger, pool: make } = await setup(t);
  const pool = make(0);
  await pool.start(new Set());
  const link = await pool.take();
  t.same(await onNode(), [link.wgName]);
  t.same(ledger(), [link.wgName], 'in the ledger until claimed');
  pool.claimed(link);
  pool.refill();
  await pool.idle();
  t.same(pool.spares, [], 'size 0 keeps none');
  await pool.stop();
  t.same(await onNode(), [link.wgName]);
  await links.delete(link);
});

t.test('after a crash, the next start deletes every spare no record claims, whatever its state', async (t) => {
  const { links, onNode, ledger, pool: make, dir } = await setup(t);
  const crashed = make(3);
  await crashed.start(new Set());
  await crashed.idle();
  const [claimedName, ...unclaimed] = crashed.spares as [string, ...string[]];
  // The crash came after the ADD recorded the first spare but before it told the pool.
  // Also left: a ledger entry whose link was never made, and one whose wireguard-go died, leaving its socket.
  const neverMade = `${SPARE_PREFIX}0000000001`;
  writeFileSync(join(dir, `${neverMade}.json`), JSON.stringify({ name: neverMade }));
  const staleSocket = `${SPARE_PREFIX}0000000002`;
  writeFileSync(join(dir, `${staleSocket}.json`), JSON.stringify({ name: staleSocket }));
  const socketFile = links.socketPath(staleSocket);
  if (links.mode === 'userspace') writeFileSync(socketFile, '');
  t.teardown(() => rmSync(socketFile, { force: true }));

  const next = make(0);
  await next.start(new Set([claimedName]));
  t.same(await onNode(), [claimedName], 'only the claimed link is left');
  t.same(ledger(), [], 'the ledger is empty');
  t.notOk(existsSync(socketFile), 'the stale socket is gone');
  for (const name of unclaimed) t.notOk(existsSync(links.socketPath(name)), `no socket left for ${name}`);
  await next.stop();
  await links.delete((await links.find(claimedName))!);
});
