import { CommandError, type CommandRunner } from '../exec/runner.ts';
import { KegError } from '../errors.ts';
import { parseDump, type WgDeviceState } from './dump.ts';
import { assertValidKey, PrivateKey } from './keys.ts';
import { withSecretFile } from './secretfile.ts';
import { assertCidr, assertEndpoint, assertIfname, assertUint } from './validate.ts';

export interface DeviceConfig {
  /** A PrivateKey, not a string, so the key cannot be logged on its way here. */
  privateKey: PrivateKey;
  /** Omitted: left as it is (a new device picks a random port). */
  listenPort?: number;
  /** 0 turns the fwmark off. Omitted: left as it is. */
  fwmark?: number;
  /** Peers to add in the same call (one process instead of two). */
  peers?: readonly PeerConfig[];
}

/**
 * One peer. `allowedIps` replaces the peer's whole list (an empty list clears
 * it). `endpoint` and `persistentKeepalive` are set when given and otherwise
 * left as they are; a keepalive of 0 turns it off.
 */
export interface PeerConfig {
  publicKey: string;
  endpoint?: string;
  allowedIps: readonly string[];
  persistentKeepalive?: number;
}

/**
 * Bulk updates are split into `wg set` calls of at most this many argv bytes.
 * Linux allows ~2 MiB of argv and environment in total; 64 KiB keeps far clear
 * of that while still carrying ~800 typical peers per call.
 */
export const MAX_BATCH_ARGV_BYTES = 64 * 1024;

/**
 * wireguard-tools over a CommandRunner. `dev` is the name `wg` knows the device
 * by (see WgLink.wgName): for wireguard-go that is its creation name, which may
 * differ from the link's current name.
 */
export class Wg {
  private readonly runner: CommandRunner;

  constructor(runner: CommandRunner) {
    this.runner = runner;
  }

  async show(dev: string): Promise<WgDeviceState> {
    assertIfname(dev);
    const { stdout } = await this.wg(dev, 'show', ['show', dev, 'dump']);
    return parseDump(stdout);
  }

  /** The device's private key, e.g. to give a second device of the same peer identity; never logged (PrivateKey). */
  async privateKey(dev: string): Promise<PrivateKey> {
    assertIfname(dev);
    const { stdout } = await this.wg(dev, 'show private-key', ['show', dev, 'private-key']);
    return PrivateKey.fromBase64(stdout.trim());
  }

  /** Sets the private key (and optionally port and fwmark). The key never appears on argv. */
  async configureDevice(dev: string, config: DeviceConfig): Promise<void> {
    assertIfname(dev);
    const extra: string[] = [];
    if (config.listenPort !== undefined) {
      assertUint(config.listenPort, 'listen port', 0xffff);
      extra.push('listen-port', String(config.listenPort));
    }
    if (config.fwmark !== undefined) {
      assertUint(config.fwmark, 'fwmark', 0xffffffff);
      extra.push('fwmark', config.fwmark === 0 ? 'off' : `0x${config.fwmark.toString(16)}`);
    }
    for (const p of config.peers ?? []) extra.push(...peerClause(p));
    await withSecretFile(config.privateKey.revealBase64() + '\n', (keyFile) =>
      this.wg(dev, 'configure', ['set', dev, 'private-key', keyFile, ...extra]),
    );
  }

  async setPeer(dev: string, peer: PeerConfig): Promise<void> {
    await this.setPeers(dev, [peer]);
  }

  /**
   * Adds or updates many peers with few processes: batched `wg set` calls with
   * one `peer` clause each (not `wg addconf /dev/stdin`, which cannot read
   * Node's socketpair stdin and would need a scratch file). Each call is one
   * netlink batch (kernel) or one UAPI transaction (wireguard-go); a failed
   * call leaves earlier batches applied, so callers resync on error.
   */
  async setPeers(dev: string, peers: readonly PeerConfig[]): Promise<void> {
    assertIfname(dev);
    const clauses = peers.map(peerClause);
    for (const batch of batches(clauses)) await this.wg(dev, 'set peers', ['set', dev, ...batch]);
  }

  /**
   * Makes WireGuard forget the peer's session (keys, handshake state) but not
   * its configuration, so the next packet starts a new handshake. Removal and
   * re-adding go in one `wg set` call, which the kernel and wireguard-go apply
   * as one transaction: the peer is never missing, even for an instant.
   */
  async resetPeer(dev: string, peer: PeerConfig): Promise<void> {
    assertIfname(dev);
    const clause = peerClause(peer);
    await this.wg(dev, 'reset peer', ['set', dev, 'peer', peer.publicKey, 'remove', ...clause]);
  }

  /** Removes a peer; a peer that is not there is success. */
  async removePeer(dev: string, publicKey: string): Promise<void> {
    await this.removePeers(dev, [publicKey]);
  }

  async removePeers(dev: string, publicKeys: readonly string[]): Promise<void> {
    assertIfname(dev);
    const clauses = publicKeys.map((k) => {
      assertValidKey(k, 'peer public key');
      return ['peer', k, 'remove'];
    });
    for (const batch of batches(clauses)) await this.wg(dev, 'remove peers', ['set', dev, ...batch]);
  }

  private async wg(dev: string, op: string, args: string[]): Promise<{ stdout: string }> {
    try {
      return await this.runner.run(['wg', ...args]);
    } catch (err) {
      throw wgError(dev, op, err);
    }
  }
}

function peerClause(p: PeerConfig): string[] {
  assertValidKey(p.publicKey, 'peer public key');
  p.allowedIps.forEach(assertCidr);
  const clause = ['peer', p.publicKey];
  if (p.endpoint !== undefined) {
    assertEndpoint(p.endpoint);
    clause.push('endpoint', p.endpoint);
  }
  if (p.persistentKeepalive !== undefined) {
    assertUint(p.persistentKeepalive, 'persistent keepalive', 0xffff);
    clause.push('persistent-keepalive', p.persistentKeepalive === 0 ? 'off' : String(p.persistentKeepalive));
  }
  clause.push('allowed-ips', p.allowedIps.join(','));
  return clause;
}

/** Groups clauses so that no batch exceeds MAX_BATCH_ARGV_BYTES (a single oversized clause gets a batch of its own). */
function batches(clauses: string[][]): string[][] {
  const out: string[][] = [];
  let current: string[] = [];
  let size = 0;
  for (const clause of clauses) {
    const bytes = clause.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);
    if (current.length > 0 && size + bytes > MAX_BATCH_ARGV_BYTES) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(...clause);
    size += bytes;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/**
 * WG_NO_DEVICE when `wg` cannot find the device: "No such device" from the
 * kernel, or "Protocol not supported" when there is neither a wireguard-go
 * socket of that name nor kernel WireGuard to ask.
 */
function wgError(dev: string, op: string, err: unknown): KegError {
  const stderr = err instanceof CommandError ? err.stderr : '';
  if (/No such device|Protocol not supported/.test(stderr)) {
    return new KegError('WG_NO_DEVICE', `wg ${op} ${dev}: no such WireGuard device`, { cause: err });
  }
  return new KegError('WG_COMMAND_FAILED', `wg ${op} ${dev} failed`, { cause: err });
}
