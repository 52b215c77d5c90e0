/**
 * Names the Go original derives for AKS node pools of type VirtualMachines,
 * reproduced exactly so that a takeover finds the same backend pool and
 * public IPs: the pool's id (uuid.NewMD5 of the pool name in Go's namespace)
 * and each NIC's public IP (`<prefix name>-<FNV-64a of the NIC name, hex>`).
 */
import { createHash } from 'node:crypto';

/** Go's namespaceAgentPool (controllers/manager/agentpoolvms.go). */
const AGENT_POOL_NAMESPACE = '2c96e82c-842f-11f0-8ea5-6bee14278ecd';

/** RFC 4122 version 3 (MD5) UUID of `name` in `namespace`, as Go's uuid.NewMD5. */
export function uuidV3(namespace: string, name: string): string {
  const ns = Buffer.from(namespace.replaceAll('-', ''), 'hex');
  const h = createHash('md5').update(ns).update(name, 'utf8').digest();
  h[6] = ((h[6] ?? 0) & 0x0f) | 0x30;
  h[8] = ((h[8] ?? 0) & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The backend pool (and frontend) name of a VirtualMachines node pool. */
export function vmPoolUniqueId(poolName: string): string {
  return uuidV3(AGENT_POOL_NAMESPACE, poolName);
}

/** FNV-1a, 64 bits, as lower-case hex without padding (Go's fmt %x of hash/fnv New64a). */
export function fnv64a(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text, 'utf8')) h = BigInt.asUintN(64, (h ^ BigInt(byte)) * 0x100000001b3n);
  return h.toString(16);
}

/** The public IP Go creates for a NIC from a prefix. */
export function nicPublicIpName(prefixName: string, nicName: string): string {
  return `${prefixName}-${fnv64a(nicName)}`;
}
