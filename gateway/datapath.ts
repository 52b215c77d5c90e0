import { existsSync } from 'node:fs';
import { type CommandRunner, inNetns } from '../lib/exec/runner.ts';
import { Ip } from '../lib/net/ip.ts';
import { Nft, type NftCounter } from '../lib/net/nft.ts';
import { deleteNetns, ensureNetns, netnsPath } from '../lib/net/netns.ts';
import type { PrivateKey } from '../lib/wireguard/keys.ts';
import { type WgLink, type WgLinks, foreignAsAbsent } from '../lib/wireguard/link.ts';
import { linkName, portOfLink, type Names } from './config.ts';
import {
  BASE_TABLE, HOST_VETH_IP, NS_VETH_IP, VETH_PREFIX_LEN, type GatewayAddressing,
  TRAFFIC_COUNTERS, type TrafficDirection,
  baseTableBody, gatewayTable, gatewayTableBody, hostTableBody, markOf, parseHostComment, portOfTable, returnRule,
} from './rules.ts';
import { type GatewayConntrack, parseConntrack } from './conntrack.ts';
import { type DropReason, type TunnelFilter, droppedByReason, nodeTableBody } from './tunnel-filter.ts';

export interface DatapathOptions {
  runner: CommandRunner;
  links: WgLinks;
  names: Names;
  hostInterface: string;
  tunnelFilter: TunnelFilter;
}

/**
 * The node's side of every gateway: the gateway namespace and its veth, one
 * WireGuard link per gateway, addresses, routes, policy rules and nft tables.
 * Every method reads what is there and converges, so it is safe to call again
 * after a crash at any point, and a restarted daemon adopts what it finds.
 */
export class Datapath {
  readonly gwPath: string;
  private readonly o: DatapathOptions;
  private readonly hostIp: Ip;
  private readonly hostNft: Nft;
  private readonly nsIp: Ip;
  private readonly nsNft: Nft;

  constructor(o: DatapathOptions) {
    this.o = o;
    this.gwPath = netnsPath(o.names.netnsName);
    this.hostIp = new Ip(o.runner);
    this.hostNft = new Nft(o.runner);
    this.nsIp = new Ip(inNetns(o.runner, this.gwPath));
    this.nsNft = new Nft(inNetns(o.runner, this.gwPath));
  }

  /** The gateway namespace, the veth pair with its addresses, forwarding, and the base table. */
  async ensureBase(): Promise<void> {
    const { runner, names } = this.o;
    await ensureNetns(runner, names.netnsName);
    await this.hostIp.addVeth(names.hostVeth, names.nsVeth, { peerNetns: this.gwPath });
    await this.hostIp.addAddress(names.hostVeth, `${HOST_VETH_IP}/${VETH_PREFIX_LEN}`);
    await this.nsIp.addAddress(names.nsVeth, `${NS_VETH_IP}/${VETH_PREFIX_LEN}`);
    await this.hostIp.setUp(names.hostVeth);
    await this.nsIp.setUp(names.nsVeth);
    await this.nsIp.replaceRoute({ dst: 'default', via: HOST_VETH_IP, dev: names.nsVeth });
    // Decrypted packets arrive on the tunnel but their source routes via the
    // veth: strict reverse-path filtering would drop them.
    await this.sysctl(inNetns(runner, this.gwPath), ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']);
    await this.sysctl(runner, ['net.ipv4.ip_forward=1']);
    await this.nsNft.replaceTable('ip', BASE_TABLE, baseTableBody(names, this.o.tunnelFilter, await this.nsNft.counters('ip', BASE_TABLE)));
    await this.hostNft.replaceTable('ip', names.nodeTable, nodeTableBody(names, this.o.tunnelFilter, await this.hostNft.counters('ip', names.nodeTable)));
  }

  /** Tunnelled packets the filter dropped, by reason (zero before the base exists). */
  async droppedPackets(): Promise<Record<DropReason, number>> {
    const ns = existsSync(this.gwPath) ? await this.nsNft.counters('ip', BASE_TABLE) : new Map();
    return droppedByReason([ns, await this.hostNft.counters('ip', this.o.names.nodeTable)]);
  }

  /**
   * Each gateway's traffic counters, by port: one read of the gateway
   * namespace's counters (that namespace holds only our tables), never of
   * the host's ruleset. Empty before the base exists.
   */
  async traffic(): Promise<Map<number, Record<TrafficDirection, NftCounter>>> {
    const out = new Map<number, Record<TrafficDirection, NftCounter>>();
    if (!existsSync(this.gwPath)) return out;
    for (const [table, counts] of await this.nsNft.countersByTable('ip')) {
      const port = portOfTable(table);
      const zero = { packets: 0, bytes: 0 };
      if (port !== undefined) out.set(port, { egress: counts.get(TRAFFIC_COUNTERS.egress) ?? zero, return: counts.get(TRAFFIC_COUNTERS.return) ?? zero });
    }
    return out;
  }

  /**
   * The gateway namespace's connection table, by gateway port; undefined
   * when the kernel does not list it (no CONFIG_NF_CONNTRACK_PROCFS) or the
   * namespace is not there. Only our gateways' connections live in that
   * namespace, so the listing is as long as their traffic, not the node's.
   */
  async conntrack(ports: number[]): Promise<Map<number, GatewayConntrack> | undefined> {
    if (!existsSync(this.gwPath)) return undefined;
    const res = await inNetns(this.o.runner, this.gwPath).run(['cat', '/proc/net/nf_conntrack']).catch(() => undefined);
    return res && parseConntrack(res.stdout, ports);
  }

  /** Removes the namespace and veth, then the filter of what came through them; only when no gateway is left. */
  async removeBase(): Promise<void> {
    await this.hostIp.deleteLink(this.o.names.hostVeth);
    await deleteNetns(this.o.runner, this.o.names.netnsName);
    await this.hostNft.deleteTable('ip', this.o.names.nodeTable);
  }

  /** Everything of one gateway except its peers. Returns its link. */
  async program(gw: GatewayAddressing, privateKey: PrivateKey): Promise<WgLink> {
    const { names, links } = this.o;
    const link = await this.ensureLink(gw.port, privateKey);
    await links.setUp(link);
    const mark = markOf(gw.port);
    await this.nsIp.replaceRoute({ dst: 'default', dev: link.ifname, table: mark });
    await this.nsIp.addRule(returnRule(gw.port));
    const counts = await this.nsNft.counters('ip', gatewayTable(gw.port));
    await this.nsNft.replaceTable('ip', gatewayTable(gw.port), gatewayTableBody(names, gw, counts));
    await this.hostNft.replaceTable('ip', gatewayTable(gw.port), hostTableBody(gw));
    await this.hostIp.replaceRoute({ dst: `${gw.secondaryIp}/32`, via: NS_VETH_IP, dev: names.hostVeth });
    await this.hostIp.addAddress(this.o.hostInterface, `${gw.ilbIp}/32`);
    return link;
  }

  /**
   * The gateway's link in the gateway namespace, created if missing: in the
   * node namespace first (so its UDP socket lives there), then moved. A link
   * left in the node namespace by a crash between the two steps is reused.
   * Keys and port are set only when they differ, so adopting a running link
   * does not disturb its sessions.
   */
  async ensureLink(port: number, privateKey: PrivateKey): Promise<WgLink> {
    const { links } = this.o;
    const name = linkName(this.o.names, port);
    let link = await links.find(name, this.gwPath);
    if (!link) {
      const stray = await links.find(name);
      link = await links.move(stray ?? (await links.create(name)), this.gwPath);
    }
    const wg = links.wg(link);
    const state = await wg.show(link.wgName);
    if (state.publicKey !== privateKey.publicKey() || state.listenPort !== port) {
      await wg.configureDevice(link.wgName, { privateKey, listenPort: port });
    }
    return link;
  }

  /** Ports of every gateway that has anything on this node (link or table, either side). */
  async programmedPorts(): Promise<Set<number>> {
    const ports = new Set<number>();
    const { names, links } = this.o;
    for (const table of await this.hostNft.ruleset()) {
      const port = table.family === 'ip' ? portOfTable(table.name) : undefined;
      if (port !== undefined) ports.add(port);
    }
    for (const link of await links.list()) addPort(ports, portOfLink(names, link.ifname));
    if (!existsSync(this.gwPath)) return ports;
    for (const table of await this.nsNft.ruleset()) addPort(ports, table.family === 'ip' ? portOfTable(table.name) : undefined);
    for (const link of await links.list(this.gwPath)) addPort(ports, portOfLink(names, link.ifname));
    return ports;
  }

  /**
   * Removes everything of the gateway on `port`. The ILB address is shared by
   * every gateway of the same load balancer, so it stays while one in `ilbIpsInUse` needs it.
   */
  async teardown(port: number, ilbIpsInUse: ReadonlySet<string>): Promise<void> {
    const { links, names } = this.o;
    const name = linkName(names, port);
    // A link of that name someone else made (WG_LINK_FOREIGN) is left alone.
    const stray = await links.find(name).catch(foreignAsAbsent);
    if (stray) await links.delete(stray);
    if (existsSync(this.gwPath)) {
      const link = await links.find(name, this.gwPath);
      if (link) await links.delete(link);
      await this.nsIp.deleteRule(returnRule(port));
      await this.nsIp.deleteRoute({ dst: 'default', table: markOf(port), family: 'inet' });
      await this.nsNft.deleteTable('ip', gatewayTable(port));
    }
    const hostTable = await this.hostNft.table('ip', gatewayTable(port));
    const recorded = parseHostComment(hostTable?.chains.flatMap((c) => c.rules).find((r) => r.comment)?.comment);
    if (recorded) {
      await this.hostIp.deleteRoute({ dst: `${recorded.secondaryIp}/32`, via: NS_VETH_IP, dev: names.hostVeth });
      if (!ilbIpsInUse.has(recorded.ilbIp)) await this.hostIp.deleteAddress(this.o.hostInterface, `${recorded.ilbIp}/32`);
    }
    await this.hostNft.deleteTable('ip', gatewayTable(port));
  }

  private async sysctl(runner: CommandRunner, settings: string[]): Promise<void> {
    await runner.run(['sysctl', '-q', '-w', ...settings]);
  }
}

function addPort(ports: Set<number>, port: number | undefined): void {
  if (port !== undefined) ports.add(port);
}
