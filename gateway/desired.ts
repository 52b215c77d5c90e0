import { isIP } from 'node:net';
import { parseSgcRef } from '../lib/api/sharing.ts';
import type { GatewayVMConfiguration, PodEndpoint, StaticGatewayConfiguration } from '../lib/api/v1alpha1.ts';
import { isValidKey } from '../lib/wireguard/keys.ts';
import { objectKey } from '../lib/kube/workqueue.ts';
import type { Verdict, VerdictOf } from './pod-check.ts';

/** One gateway (SGC) as this node must serve it, from the API objects. Secrets are fetched later. */
export interface DesiredGateway {
  /** namespace/name of the SGC. */
  key: string;
  uid: string;
  /** The ILB frontend IP (floating IP), put on the host interface as a /32. */
  ilbIp: string;
  port: number;
  publicKey: string;
  secretRef: { namespace: string; name: string };
  /** This node's egress (secondary) IP for this gateway. */
  secondaryIp: string;
}

/** Why an SGC does not (yet) apply to this node; undefined fields mean it does. */
export type Applicability = { ok: true; gateway: DesiredGateway } | { ok: false; reason: string };

/**
 * Whether this node serves the SGC, and with what: the node must be listed in
 * the GatewayVMConfiguration (same namespace/name) with a secondary IP, and
 * the operator must have published the server profile. Anything missing or
 * malformed means "does not apply", which tears down what was there.
 */
export function desiredGateway(
  sgc: StaticGatewayConfiguration | undefined, vmConfig: GatewayVMConfiguration | undefined, nodeName: string,
): Applicability {
  if (!sgc) return { ok: false, reason: 'no StaticGatewayConfiguration' };
  if (sgc.metadata.deletionTimestamp !== undefined) return { ok: false, reason: 'being deleted' };
  const profile = vmConfig?.status?.gatewayVMProfiles?.find((p) => p.nodeName === nodeName);
  if (!profile) return { ok: false, reason: 'this node is not in the GatewayVMConfiguration' };
  const secondaryIp = profile.secondaryIP ?? '';
  if (isIP(secondaryIp) !== 4) return { ok: false, reason: 'no IPv4 secondary IP for this node yet' };
  const server = sgc.status?.gatewayServerProfile;
  const ref = server?.privateKeySecretRef;
  if (!server || isIP(server.ip ?? '') !== 4 || !server.port || server.port < 1 || server.port > 0xffff) {
    return { ok: false, reason: 'no gateway server profile (ip, port) yet' };
  }
  if (!isValidKey(server.publicKey) || !ref?.name || !ref.namespace) return { ok: false, reason: 'no gateway key yet' };
  return {
    ok: true,
    gateway: {
      key: objectKey(sgc.metadata.namespace, sgc.metadata.name),
      uid: sgc.metadata.uid ?? '',
      ilbIp: server.ip as string,
      port: server.port,
      publicKey: server.publicKey,
      secretRef: { namespace: ref.namespace, name: ref.name },
      secondaryIp,
    },
  };
}

/**
 * The SGC key a PodEndpoint belongs to: `<name>` in the endpoint's (the pod's)
 * namespace, or a shared SGC's `<namespace>/<name>` (lib/api/sharing.ts). A
 * malformed reference keeps its raw text, which names no SGC.
 */
export function sgcKeyOf(pe: PodEndpoint): string {
  try {
    const ref = parseSgcRef(pe.spec.staticGatewayConfiguration, pe.metadata.namespace);
    return objectKey(ref.namespace, ref.name);
  } catch {
    return objectKey(pe.metadata.namespace, pe.spec.staticGatewayConfiguration);
  }
}

/**
 * The node the admission policy stamps on every PodEndpoint a node agent
 * writes (charts/.../podendpoint-policy.yaml): the node its token names.
 */
export const ENDPOINT_NODE_LABEL = 'kubeegressgateway.azure.com/node';

/** Why a PodEndpoint is not installed; also the reason of its Warning event. */
export type RefusalReason = 'DuplicatePodIP' | 'DuplicatePublicKey' | 'OutsideNodePodCIDRs' | 'PodMismatch';

export interface RefusedEndpoint {
  /** namespace/name */
  endpoint: string;
  ip: string;
  reason: RefusalReason;
  /** The older endpoint holding the IP or key, the node whose pod ranges the IP is outside, or what the Pod says. */
  other: string;
}

export interface DesiredPeers {
  peers: Map<string, string>;
  refused: RefusedEndpoint[];
}

/** A node's pod ranges by node name; undefined when unknown or not checked. */
export type PodCidrsOf = (node: string) => readonly string[] | undefined;

const ipv4 = (ip: string): number => ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);

/** Whether `ip` (an address, or an address/32) lies in one of the IPv4 `cidrs`; IPv6 ranges never match. */
export function inCidrs(ip: string, cidrs: readonly string[]): boolean {
  const addr = ipv4(ip.split('/')[0] as string);
  return cidrs.some((cidr) => {
    const [base = '', len = ''] = cidr.split('/');
    if (isIP(base) !== 4) return false;
    const size = 2 ** (32 - Number(len));
    return Math.floor(addr / size) === Math.floor(ipv4(base) / size);
  });
}

/** The node an endpoint's pod range is checked against: the stamped node, when it has pod ranges. */
function outsideNode(pe: PodEndpoint, podCidrsOf: PodCidrsOf | undefined): string | undefined {
  const node = pe.metadata.labels?.[ENDPOINT_NODE_LABEL];
  const cidrs = node === undefined ? undefined : podCidrsOf?.(node);
  return node !== undefined && cidrs !== undefined && cidrs.length > 0 && !inCidrs(pe.spec.podIpAddress, cidrs) ? node : undefined;
}

type Candidate = [key: string, pe: PodEndpoint, verdict: Verdict | undefined];

/** Endpoints confirmed by their Pod first, then the older (ties by name). */
function byStanding([ka, a, va]: Candidate, [kb, b, vb]: Candidate): number {
  const ga = va?.genuine === true;
  if (ga !== (vb?.genuine === true)) return ga ? -1 : 1;
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/**
 * PodEndpoints grouped by SGC, kept up to date from informer events, so a
 * reconcile reads its peers without scanning every endpoint of the cluster.
 */
export class PeerIndex {
  private readonly bySgc = new Map<string, Map<string, PodEndpoint>>();
  private readonly sgcOf = new Map<string, string>();

  /** Records the endpoint; returns the SGC keys whose peers changed (old and new when it moved). */
  upsert(pe: PodEndpoint): string[] {
    const key = objectKey(pe.metadata.namespace, pe.metadata.name);
    const sgc = sgcKeyOf(pe);
    const previous = this.sgcOf.get(key);
    const touched = [sgc];
    if (previous !== undefined && previous !== sgc) {
      this.bySgc.get(previous)?.delete(key);
      touched.push(previous);
    }
    this.sgcOf.set(key, sgc);
    let peers = this.bySgc.get(sgc);
    if (!peers) this.bySgc.set(sgc, (peers = new Map()));
    peers.set(key, pe);
    return touched;
  }

  remove(pe: PodEndpoint): string | undefined {
    const key = objectKey(pe.metadata.namespace, pe.metadata.name);
    const sgc = this.sgcOf.get(key);
    if (sgc === undefined) return undefined;
    this.sgcOf.delete(key);
    const peers = this.bySgc.get(sgc);
    peers?.delete(key);
    if (peers?.size === 0) this.bySgc.delete(sgc);
    return sgc;
  }

  /**
   * Desired peers of an SGC as public key -> allowed IP. An IP or a key
   * claimed by two endpoints goes to the older one (creationTimestamp, then
   * namespace/name), whatever the order of events, so it never moves between
   * peers across resyncs; the others are refused. Two pods never hold one IP
   * at once, so a duplicate is a stale or a forged endpoint: the older one is
   * the one that was there first. With `podCidrsOf`, an endpoint whose IP is
   * outside the pod ranges of the node stamped on it is refused before it can
   * hold anything (a node claiming an IP of another node's range). With
   * `verdictOf`, an endpoint its Pod contradicts is refused, and one its Pod
   * confirmed comes before any the Pod did not confirm yet, whatever their
   * age. Verdicts only ever go from unknown to known, so nothing flaps.
   */
  desiredOf(sgcKey: string, podCidrsOf?: PodCidrsOf, verdictOf?: VerdictOf): DesiredPeers {
    const peers = new Map<string, string>();
    const holders = new Map<string, string>();
    const refused: RefusedEndpoint[] = [];
    const candidates: Candidate[] = [...this.bySgc.get(sgcKey) ?? []].map(([key, pe]) => [key, pe, verdictOf?.(pe)]);
    for (const [key, pe, verdict] of candidates.toSorted(byStanding)) {
      const { podPublicKey: publicKey, podIpAddress: ip } = pe.spec;
      const node = outsideNode(pe, podCidrsOf);
      const heldBy = holders.get(ip) ?? holders.get(publicKey);
      if (node !== undefined) refused.push({ endpoint: key, ip, reason: 'OutsideNodePodCIDRs', other: node });
      else if (verdict?.genuine === false) refused.push({ endpoint: key, ip, reason: 'PodMismatch', other: verdict.why });
      else if (heldBy !== undefined) refused.push({ endpoint: key, ip, reason: holders.has(ip) ? 'DuplicatePodIP' : 'DuplicatePublicKey', other: heldBy });
      if (node !== undefined || verdict?.genuine === false || heldBy !== undefined) continue;
      peers.set(publicKey, ip);
      holders.set(ip, key).set(publicKey, key);
    }
    return { peers, refused };
  }

  /** PodEndpoint keys of an SGC by public key, for the latency metric. */
  endpointKeysOf(sgcKey: string): Map<string, string> {
    const out = new Map<string, string>();
    for (const [key, pe] of this.bySgc.get(sgcKey) ?? []) out.set(pe.spec.podPublicKey, key);
    return out;
  }
}
