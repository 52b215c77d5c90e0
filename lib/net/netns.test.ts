import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tempNetns } from '../../testenv/netns.ts';
import { netnsState } from './netns.ts';

t.test('netnsState tells a live namespace from a gone one and from a mount this process cannot see', async (t) => {
  const ns = await tempNetns(t, 'state');
  t.equal(netnsState(ns.path), 'live');
  t.equal(netnsState(`/proc/${process.pid}/ns/net`), 'live', 'a /proc namespace link');
  const dir = mkdtempSync(join(tmpdir(), 'keg-netns-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.equal(netnsState(join(dir, 'cni-gone')), 'gone');
  // What a runtime's bind mount point looks like from a mount namespace it does not reach.
  writeFileSync(join(dir, 'cni-elsewhere'), '');
  t.equal(netnsState(join(dir, 'cni-elsewhere')), 'invisible');
});
