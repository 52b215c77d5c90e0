import { ArmError } from './ids.ts';

/** IPv4 CIDR arithmetic for the emulator's address allocation. */

export function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new ArmError(400, 'InvalidIPAddress', `invalid IPv4 address ${JSON.stringify(ip)}`);
  }
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

export interface Cidr {
  base: number;
  length: number;
  size: number;
}

export function parseCidr(cidr: string): Cidr {
  const [ip, len] = cidr.split('/');
  const length = Number(len);
  if (ip === undefined || !Number.isInteger(length) || length < 0 || length > 32) {
    throw new ArmError(400, 'InvalidAddressPrefix', `invalid CIDR ${JSON.stringify(cidr)}`);
  }
  const size = 2 ** (32 - length);
  return { base: ipToInt(ip) - (ipToInt(ip) % size), length, size };
}

export function contains(cidr: string, ip: string): boolean {
  const c = parseCidr(cidr);
  const n = ipToInt(ip);
  return n >= c.base && n < c.base + c.size;
}

/**
 * The lowest free address of a subnet. Azure reserves the first four addresses
 * and the last one of every subnet.
 */
export function allocateInSubnet(subnetPrefix: string, used: ReadonlySet<string>): string {
  const c = parseCidr(subnetPrefix);
  for (let n = c.base + 4; n < c.base + c.size - 1; n++) {
    const ip = intToIp(n);
    if (!used.has(ip)) return ip;
  }
  throw new ArmError(400, 'SubnetIsFull', `subnet ${subnetPrefix} has no free address`);
}

/** The fake public range prefixes are carved from. */
const PUBLIC_POOL = parseCidr('20.0.0.0/8');

/** The lowest aligned block of `length` in the public pool overlapping none of `taken`. */
export function allocatePrefix(length: number, taken: readonly string[]): string {
  const size = 2 ** (32 - length);
  const blocks = taken.map(parseCidr);
  for (let base = PUBLIC_POOL.base; base + size <= PUBLIC_POOL.base + PUBLIC_POOL.size; base += size) {
    if (blocks.every((b) => base + size <= b.base || b.base + b.size <= base)) return `${intToIp(base)}/${length}`;
  }
  throw new ArmError(409, 'PublicIPPrefixCountLimitReached', 'the emulated public range is exhausted');
}

/** The lowest address of a public prefix not in `used`, or undefined when it is full. */
export function allocateInPrefix(prefix: string, used: ReadonlySet<string>): string | undefined {
  const c = parseCidr(prefix);
  for (let n = c.base; n < c.base + c.size; n++) {
    const ip = intToIp(n);
    if (!used.has(ip)) return ip;
  }
  return undefined;
}
