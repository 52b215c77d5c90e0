import { ipv4ToInt, parseCidr } from '../../lib/api/validation.ts';

interface Block {
  start: number;
  prefix: number;
}

const size = (prefix: number): number => 2 ** (32 - prefix);

function toBlock(cidr: string): Block | undefined {
  const p = parseCidr(cidr);
  if (p?.family !== 4) return undefined;
  // Host bits are dropped: 10.0.0.5/24 and 10.0.0.0/24 are the same range.
  const start = Math.floor(ipv4ToInt(p.address) / size(p.prefixLength)) * size(p.prefixLength);
  return { start, prefix: p.prefixLength };
}

function toCidr(b: Block): string {
  const o = [24, 16, 8, 0].map((s) => Math.floor(b.start / 2 ** s) % 256);
  return `${o.join('.')}/${b.prefix}`;
}

/**
 * The smallest set of IPv4 CIDRs covering exactly the same addresses: ranges
 * inside others are dropped and sibling halves merged, so every node's /24
 * of a kubenet or overlay cluster becomes the cluster's pod range, one route
 * per pod instead of one per node. Non-IPv4 entries are ignored.
 */
export function aggregate(cidrs: Iterable<string>): string[] {
  let blocks = [...cidrs].map(toBlock).filter((b) => b !== undefined).sort((a, b) => a.start - b.start || a.prefix - b.prefix);
  for (let merged = true; merged; ) {
    merged = false;
    const out: Block[] = [];
    for (const b of blocks) {
      const last = out.at(-1);
      if (last !== undefined && b.start < last.start + size(last.prefix)) continue;
      if (last !== undefined && last.prefix === b.prefix && last.prefix > 0 && last.start % size(last.prefix - 1) === 0 && b.start === last.start + size(last.prefix)) {
        out[out.length - 1] = { start: last.start, prefix: last.prefix - 1 };
        merged = true;
        continue;
      }
      out.push(b);
    }
    blocks = out;
  }
  return blocks.map(toCidr);
}
