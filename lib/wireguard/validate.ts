import { isIP } from 'node:net';
import { KegError } from '../errors.ts';

// Everything handed to `ip` or `wg` is checked first: a value that is not what
// it claims to be (an option-looking name, a host name that would need DNS) is
// rejected here with a clear message instead of surfacing as an odd tool error.

function invalid(message: string): KegError {
  return new KegError('WG_CONFIG_INVALID', message);
}

/** Linux interface names: 1 to 15 characters; we also forbid a leading '-' and odd characters. */
export function assertIfname(name: string): void {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/.test(name)) {
    throw invalid(`invalid interface name ${JSON.stringify(name)}: want 1-15 of [A-Za-z0-9_.-], not starting with '-' or '.'`);
  }
}

export function assertUint(value: number, what: string, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw invalid(`invalid ${what} ${value}: want an integer in [0, ${max}]`);
}

/** An address with prefix length, IPv4 or IPv6, e.g. 10.0.0.1/32. */
export function assertCidr(cidr: string): void {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  const family = m ? isIP(m[1] ?? '') : 0;
  if (!m || family === 0 || Number(m[2]) > (family === 4 ? 32 : 128)) {
    throw invalid(`invalid allowed IP ${JSON.stringify(cidr)}: want address/prefix`);
  }
}

/** `ipv4:port` or `[ipv6]:port`; host names are refused so nothing depends on DNS. */
export function assertEndpoint(endpoint: string): void {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(endpoint);
  const ok = m !== null && (m[1] !== undefined ? isIP(m[1]) === 6 : isIP(m[2] ?? '') === 4) && Number(m[3]) >= 1 && Number(m[3]) <= 0xffff;
  if (!ok) throw invalid(`invalid endpoint ${JSON.stringify(endpoint)}: want ipv4:port or [ipv6]:port`);
}
