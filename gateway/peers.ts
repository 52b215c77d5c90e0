import type { Wg } from '../lib/wireguard/wg.ts';

/** Installed peers of one link: public key -> allowed IPs as `wg` lists them (comma-joined). */
export type PeerSet = Map<string, string>;

/** The peers a link has now, from `wg show <dev> dump`. */
export async function readPeers(wg: Wg, dev: string): Promise<PeerSet> {
  const state = await wg.show(dev);
  return new Map(state.peers.map((p) => [p.publicKey, p.allowedIps.join(',')]));
}

export interface PeerChanges {
  added: string[];
  removed: string[];
}

/**
 * Makes the link's peers exactly `desired` (public key -> pod IP/32), given
 * what is `installed`, with one batched `wg set` for additions and one for
 * removals. `installed` is updated as the batches succeed, so after a failure
 * it still describes the link for the retry.
 */
export async function syncPeers(wg: Wg, dev: string, desired: ReadonlyMap<string, string>, installed: PeerSet): Promise<PeerChanges> {
  const added = [...desired].filter(([key, ip]) => installed.get(key) !== ip).map(([key]) => key);
  const removed = [...installed.keys()].filter((key) => !desired.has(key));
  if (removed.length > 0) {
    await wg.removePeers(dev, removed);
    for (const key of removed) installed.delete(key);
  }
  if (added.length > 0) {
    await wg.setPeers(dev, added.map((key) => ({ publicKey: key, allowedIps: [desired.get(key) as string] })));
    for (const key of added) installed.set(key, desired.get(key) as string);
  }
  return { added, removed };
}
