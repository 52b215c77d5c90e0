import { z } from 'zod';
import { SECRET_KEY_PRIVATE } from '../lib/api/constants.ts';
import type { GatewaySummary, GatewayVMConfiguration, StaticGatewayConfiguration } from '../lib/api/v1alpha1.ts';
import { KegError, describeError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import type { KubeRest } from '../lib/kube/rest.ts';
import { PrivateKey } from '../lib/wireguard/keys.ts';
import type { WgLink, WgLinks } from '../lib/wireguard/link.ts';
import { linkName, type Names } from './config.ts';
import type { Datapath } from './datapath.ts';
import { type DesiredGateway, type PeerIndex, type PodCidrsOf, type RefusedEndpoint, desiredGateway } from './desired.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { VerdictOf } from './pod-check.ts';
import { type PeerSet, readPeers, syncPeers } from './peers.ts';

/** The queue key of the garbage collection pass; SGC keys always contain a '/'. */
export const GC_KEY = 'gc';

export interface ReconcilerDeps {
  rest: KubeRest;
  nodeName: string;
  names: Names;
  datapath: Datapath;
  links: WgLinks;
  peers: PeerIndex;
  sgc: (key: string) => StaticGatewayConfiguration | undefined;
  vmConfig: (key: string) => GatewayVMConfiguration | undefined;
  /** Every SGC key known to the informers (for garbage collection). */
  sgcKeys: () => string[];
  metrics: GatewayMetrics;
  log: Logger;
  /** When each PodEndpoint (by key) was last seen changing, for the programming latency. */
  pendingSince: Map<string, number>;
  onChange: () => void;
  /** Asks for a garbage collection pass (queued after the current reconcile). */
  requestGc: () => void;
  /** An endpoint newly refused (once per refusal, not per reconcile). */
  onRefused: (sgcKey: string, refused: RefusedEndpoint) => void;
  /** Pod ranges of the nodes, when --check-node-pod-cidrs is on. */
  podCidrsOf?: PodCidrsOf;
  /** What each endpoint's Pod says, when --check-pod-endpoints is on. */
  verdictOf?: VerdictOf;
}

/** How many refused endpoints a GatewaySummary names (the count is always complete). */
export const REFUSED_SAMPLE = 10;

/** What the daemon knows about one gateway it serves. */
interface Served {
  gateway: DesiredGateway;
  /** JSON of `gateway` when last fully programmed; undefined: program again. */
  programmed: string | undefined;
  link: WgLink | undefined;
  /** Peers on the link, as last read or written; undefined: read the dump again. */
  installed: PeerSet | undefined;
  ready: boolean;
  lastProgrammed: string | undefined;
  message: string | undefined;
  /** Endpoints not installed (duplicates, outside their node's ranges), as of the last peer sync. */
  refused: RefusedEndpoint[];
}

const SecretSchema = z.object({ data: z.record(z.string(), z.string()).optional() });

/**
 * Converges one SGC's gateway on this node (queue key namespace/name), and,
 * for the key {@link GC_KEY}, removes whatever gateways exist on the node but
 * no longer apply. Programming (links, addresses, rules, tables) runs when
 * the gateway's parameters change and on full resyncs; peer events only
 * diff and apply peers, which keeps them cheap at any peer count.
 */
export class GatewayReconciler {
  private readonly d: ReconcilerDeps;
  private readonly served = new Map<string, Served>();
  private readonly full = new Set<string>();
  /**
   * Private keys by Secret and public key: read once per gateway parameters,
   * so a full resync needs no API call and an API outage cannot make a
   * programmed gateway fail its probe.
   */
  private readonly keys = new Map<string, PrivateKey>();
  private baseReady = false;

  constructor(deps: ReconcilerDeps) {
    this.d = deps;
  }

  /** The next reconcile of `key` re-reads and re-applies everything, not only peer changes. */
  markFull(key: string): void {
    this.full.add(key);
  }

  /** A full pass of `key` is marked and has not run yet. */
  fullPending(key: string): boolean {
    return this.full.has(key);
  }

  isReady(uid: string): boolean {
    for (const s of this.served.values()) if (s.gateway.uid === uid) return s.ready;
    return false;
  }

  summaries(): GatewaySummary[] {
    return [...this.served.values()].map((s) => ({
      staticGatewayConfiguration: s.gateway.key,
      uid: s.gateway.uid,
      interfaceName: linkName(this.d.names, s.gateway.port),
      port: s.gateway.port,
      ready: s.ready,
      peerCount: s.installed?.size ?? 0,
      ...(s.lastProgrammed !== undefined && { lastProgrammed: s.lastProgrammed }),
      ...(s.message !== undefined && { message: s.message.slice(0, 1024) }),
      ...(s.refused.length > 0 && {
        refusedEndpointCount: s.refused.length,
        refusedEndpoints: s.refused.slice(0, REFUSED_SAMPLE).map(describeRefused),
      }),
    }));
  }

  /** Links of the gateways served, for metrics and the drain's handshake queries. */
  servedLinks(): { gateway: string; uid: string; port: number; link: WgLink }[] {
    return [...this.served.values()].flatMap((s) => (s.link && s.ready ? [{ gateway: s.gateway.key, uid: s.gateway.uid, port: s.gateway.port, link: s.link }] : []));
  }

  reconcile = async (key: string): Promise<void> => {
    if (key === GC_KEY) return this.collectGarbage();
    const applies = desiredGateway(this.d.sgc(key), this.d.vmConfig(key), this.d.nodeName);
    const served = this.served.get(key);
    if (!applies.ok) {
      // Nothing to apply, fully or not: the full pass is done.
      this.full.delete(key);
      if (served) await this.stopServing(key, served, applies.reason);
      return;
    }
    if (served && served.gateway.port !== applies.gateway.port) await this.stopServing(key, served, 'port changed');
    const s = this.served.get(key) ?? this.newServed(key, applies.gateway);
    s.gateway = applies.gateway;
    try {
      await this.converge(key, s);
      s.ready = true;
      s.message = undefined;
    } catch (err) {
      s.ready = false;
      s.message = describeError(err);
      // Whatever failed (peers included), the next try re-reads the link and programs it again.
      s.installed = undefined;
      s.programmed = undefined;
      this.d.metrics.errors.inc({ operation: 'reconcile' });
      throw err;
    } finally {
      this.d.onChange();
    }
  };

  private newServed(key: string, gateway: DesiredGateway): Served {
    const s: Served = { gateway, programmed: undefined, link: undefined, installed: undefined, ready: false, lastProgrammed: undefined, message: undefined, refused: [] };
    this.served.set(key, s);
    return s;
  }

  private async converge(key: string, s: Served): Promise<void> {
    const full = this.full.delete(key);
    const spec = JSON.stringify(s.gateway);
    if (full || s.programmed !== spec || !s.link) {
      const changed = s.programmed !== spec;
      s.programmed = undefined;
      if (full || !this.baseReady) await this.d.datapath.ensureBase();
      this.baseReady = true;
      s.link = await this.d.datapath.program(s.gateway, await this.privateKey(s.gateway));
      s.programmed = spec;
      s.lastProgrammed = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      (changed ? this.d.log.info : this.d.log.debug)('gateway programmed', { sgc: key, port: s.gateway.port, secondaryIp: s.gateway.secondaryIp });
    }
    const wg = this.d.links.wg(s.link);
    if (full || !s.installed) s.installed = await readPeers(wg, s.link.wgName);
    const desired = this.d.peers.desiredOf(key, this.d.podCidrsOf, this.d.verdictOf);
    this.noteRefused(key, s, desired.refused);
    const { added, removed } = await syncPeers(wg, s.link.wgName, desired.peers, s.installed);
    this.observeInstalled(key, added);
    this.d.metrics.peers.set({ gateway: key }, s.installed.size);
    if (added.length + removed.length > 0) this.d.log.debug('peers updated', { sgc: key, added: added.length, removed: removed.length, total: s.installed.size });
  }

  private noteRefused(key: string, s: Served, refused: RefusedEndpoint[]): void {
    const known = new Set(s.refused.map(refusalId));
    for (const r of refused) if (!known.has(refusalId(r))) this.d.onRefused(key, r);
    s.refused = refused;
  }

  private observeInstalled(key: string, added: string[]): void {
    if (added.length === 0) return;
    const endpoints = this.d.peers.endpointKeysOf(key);
    const now = performance.now();
    for (const publicKey of added) {
      const endpoint = endpoints.get(publicKey);
      const since = endpoint === undefined ? undefined : this.d.pendingSince.get(endpoint);
      if (since === undefined || endpoint === undefined) continue;
      this.d.pendingSince.delete(endpoint);
      this.d.metrics.programmingSeconds.observe({ gateway: key }, (now - since) / 1000);
    }
  }

  private async privateKey(gw: DesiredGateway): Promise<PrivateKey> {
    const { namespace, name } = gw.secretRef;
    const id = `${namespace}/${name} ${gw.publicKey}`;
    const cached = this.keys.get(id);
    if (cached) return cached;
    const secret = SecretSchema.parse(await this.d.rest.get(resourcePath(CORE.secrets, namespace, name)));
    const encoded = secret.data?.[SECRET_KEY_PRIVATE];
    if (encoded === undefined) throw new KegError('GATEWAY_KEY_MISSING', `Secret ${namespace}/${name} has no ${SECRET_KEY_PRIVATE}`);
    const key = PrivateKey.fromBase64(Buffer.from(encoded, 'base64').toString('utf8').trim());
    if (key.publicKey() !== gw.publicKey) {
      throw new KegError('GATEWAY_KEY_MISMATCH', `Secret ${namespace}/${name} does not hold the private key of the published public key`);
    }
    for (const k of this.keys.keys()) if (k.startsWith(`${namespace}/${name} `)) this.keys.delete(k);
    this.keys.set(id, key);
    return key;
  }

  private async stopServing(key: string, s: Served, reason: string): Promise<void> {
    s.ready = false;
    this.d.log.info('gateway no longer served here; removing it', { sgc: key, port: s.gateway.port, reason });
    await this.d.datapath.teardown(s.gateway.port, this.ilbIpsInUse(key));
    this.served.delete(key);
    this.keys.delete(`${s.gateway.secretRef.namespace}/${s.gateway.secretRef.name} ${s.gateway.publicKey}`);
    this.d.metrics.peers.remove({ gateway: key });
    this.d.onChange();
    if (this.served.size === 0) this.d.requestGc();
  }

  /** ILB frontend IPs that gateways other than `except` still need on the host interface. */
  private ilbIpsInUse(except?: string): Set<string> {
    const ips = new Set<string>();
    for (const key of this.d.sgcKeys()) {
      if (key === except) continue;
      const a = desiredGateway(this.d.sgc(key), this.d.vmConfig(key), this.d.nodeName);
      if (a.ok) ips.add(a.gateway.ilbIp);
    }
    return ips;
  }

  /**
   * Uninstall: removes every gateway found on the node and then the
   * namespace, whatever the SGCs say. Only once the work queue has stopped.
   */
  async removeAll(): Promise<void> {
    for (const port of await this.d.datapath.programmedPorts()) await this.d.datapath.teardown(port, new Set());
    await this.d.datapath.removeBase();
    this.baseReady = false;
    this.served.clear();
  }

  /**
   * Removes gateways found on the node that no SGC wants here any more (the
   * daemon may have been down when their SGC went away), and the namespace
   * itself once no gateway is left.
   */
  private async collectGarbage(): Promise<void> {
    const wanted = new Map<number, string>();
    for (const key of this.d.sgcKeys()) {
      const a = desiredGateway(this.d.sgc(key), this.d.vmConfig(key), this.d.nodeName);
      if (a.ok) wanted.set(a.gateway.port, key);
    }
    const inUse = this.ilbIpsInUse();
    for (const port of await this.d.datapath.programmedPorts()) {
      if (wanted.has(port)) continue;
      this.d.log.info('removing leftover gateway', { port });
      await this.d.datapath.teardown(port, inUse);
    }
    if (wanted.size === 0 && this.served.size === 0) {
      await this.d.datapath.removeBase();
      this.baseReady = false;
    }
  }
}

const refusalId = (r: RefusedEndpoint): string => `${r.endpoint} ${r.ip} ${r.reason} ${r.other}`;

/** One refused endpoint, for status and events: names and an IP, never a key. */
export function describeRefused(r: RefusedEndpoint): string {
  if (r.reason === 'OutsideNodePodCIDRs') return `${r.endpoint}: ${r.ip} is outside the pod ranges of its node ${r.other}`;
  if (r.reason === 'PodMismatch') return `${r.endpoint}: ${r.ip} is not its Pod's (${r.other})`;
  return `${r.endpoint}: ${r.reason === 'DuplicatePodIP' ? r.ip : 'its public key'} is held by the older ${r.other}`;
}
