import { KegError } from '../errors.ts';
import { isValidKey } from './keys.ts';

/**
 * A WireGuard device as `wg show <dev> dump` reports it, minus its secrets:
 * the private key and preshared keys are dropped while parsing so that this
 * value can be logged, cached or put in a status object without thought.
 */
export interface WgDeviceState {
  /** null when no private key is set yet. */
  publicKey: string | null;
  listenPort: number;
  /** null when off. */
  fwmark: number | null;
  peers: WgPeerState[];
}

export interface WgPeerState {
  publicKey: string;
  hasPresharedKey: boolean;
  /** `ip:port` or `[ipv6]:port`; null until configured or learned from a handshake. */
  endpoint: string | null;
  allowedIps: string[];
  /** Seconds since the epoch; null when there has been no handshake. */
  latestHandshake: number | null;
  rxBytes: number;
  txBytes: number;
  /** Seconds; null when off. */
  persistentKeepalive: number | null;
}

const NONE = '(none)';
const OFF = 'off';

class DumpError extends KegError {
  constructor(line: number, why: string) {
    // Never quote the line itself: the interface line carries the private key.
    super('WG_DUMP_INVALID', `invalid wg dump, line ${line}: ${why}`);
  }
}

/** Parses the output of `wg show <dev> dump` (one device; not `wg show all dump`). */
export function parseDump(text: string): WgDeviceState {
  const lines = text.split('\n').filter((l) => l !== '');
  const [head, ...rest] = lines;
  if (head === undefined) throw new DumpError(1, 'empty output');
  const device = parseInterfaceLine(head);
  const peers = rest.map((line, i) => parsePeerLine(line, i + 2));
  return { ...device, peers };
}

function fields(line: string, lineNo: number, want: number): string[] {
  const f = line.split('\t');
  if (f.length !== want) throw new DumpError(lineNo, `want ${want} tab-separated fields, got ${f.length}`);
  return f;
}

function parseInterfaceLine(line: string): Omit<WgDeviceState, 'peers'> {
  const [privateKey, publicKey, port, fwmark] = fields(line, 1, 4) as [string, string, string, string];
  if (privateKey !== NONE && !isValidKey(privateKey)) throw new DumpError(1, 'private key is not a key');
  if (publicKey !== NONE && !isValidKey(publicKey)) throw new DumpError(1, 'public key is not a key');
  return {
    publicKey: publicKey === NONE ? null : publicKey,
    listenPort: uint(port, 1, 'listen port', 0xffff),
    fwmark: fwmark === OFF ? null : uint(fwmark, 1, 'fwmark', 0xffffffff),
  };
}

function parsePeerLine(line: string, n: number): WgPeerState {
  const [publicKey, psk, endpoint, allowed, handshake, rx, tx, keepalive] = fields(line, n, 8) as [
    string, string, string, string, string, string, string, string,
  ];
  if (!isValidKey(publicKey)) throw new DumpError(n, 'peer public key is not a key');
  if (psk !== NONE && !isValidKey(psk)) throw new DumpError(n, 'preshared key is not a key');
  if (endpoint !== NONE && !/^(\[[^\]]+\]|[^:[\]]+):\d+$/.test(endpoint)) throw new DumpError(n, 'bad endpoint');
  const latest = uint(handshake, n, 'latest handshake');
  return {
    publicKey,
    hasPresharedKey: psk !== NONE,
    endpoint: endpoint === NONE ? null : endpoint,
    allowedIps: allowed === NONE ? [] : allowed.split(',').map((a) => checkCidr(a, n)),
    latestHandshake: latest === 0 ? null : latest,
    rxBytes: uint(rx, n, 'transfer-rx'),
    txBytes: uint(tx, n, 'transfer-tx'),
    persistentKeepalive: keepalive === OFF ? null : uint(keepalive, n, 'persistent keepalive', 0xffff),
  };
}

function uint(s: string, line: number, what: string, max = Number.MAX_SAFE_INTEGER): number {
  // wg prints fwmark in hex (0x...), everything else in decimal.
  if (!/^(\d+|0x[0-9a-f]+)$/i.test(s)) throw new DumpError(line, `${what} is not a number`);
  const v = Number(s);
  if (!Number.isSafeInteger(v) || v > max) throw new DumpError(line, `${what} out of range`);
  return v;
}

function checkCidr(s: string, line: number): string {
  if (!/^[0-9a-f.:]+\/\d{1,3}$/i.test(s)) throw new DumpError(line, 'bad allowed IP');
  return s;
}
