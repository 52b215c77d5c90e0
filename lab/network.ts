import { randomBytes } from 'node:crypto';
import type { CommandRunner } from '../lib/exec/runner.ts';
import { inNetns } from '../lib/exec/runner.ts';
import { Ip } from '../lib/net/ip.ts';
import { deleteNetns, ensureNetns } from '../lib/net/netns.ts';
import { ECHO_ALT_IP, ECHO_IP, INTERNET_ROUTER_IP, ONPREM_CIDR, ONPREM_IP, PUBLIC_RANGES, ROUTER_IP, VNET_CIDR, labNetnsName, routerPortName } from './plan.ts';

export interface Netns {
  name: string;
  path: string;
}

export interface LabNode extends Netns {
  nodeName: string;
  ip: string;
}

/** Interface names inside the router namespace. */
export const VNET_IF = 'vnet0';
export const INTERNET_IF = 'inet0';

/**
 * The lab's network: a router namespace holding the VNet bridge and the link
 * to an "internet" namespace, and one namespace per node. Nodes get their
 * address as a /32 with the router as the only neighbour, as on an Azure
 * VNet where the host answers for every address: all node-to-node traffic
 * goes through the router, which is what lets it play the load balancer.
 */
export class LabNetwork {
  readonly id: string;
  readonly router: Netns;
  readonly internet: Netns;
  readonly nodes = new Map<string, LabNode>();
  private readonly runner: CommandRunner;

  private constructor(runner: CommandRunner, id: string, router: Netns, internet: Netns) {
    this.runner = runner;
    this.id = id;
    this.router = router;
    this.internet = internet;
  }

  /** Creates the router and internet namespaces. `destroy()` removes everything. */
  static async create(runner: CommandRunner, id = randomBytes(2).toString('hex')): Promise<LabNetwork> {
    const make = async (role: string): Promise<Netns> => {
      const name = labNetnsName(id, role);
      return { name, path: await ensureNetns(runner, name) };
    };
    const lab = new LabNetwork(runner, id, await make('vnet'), await make('inet'));
    try {
      await lab.wireRouter();
      return lab;
    } catch (err) {
      await lab.destroy();
      throw err;
    }
  }

  private async wireRouter(): Promise<void> {
    const router = new Ip(inNetns(this.runner, this.router.path));
    const internet = new Ip(inNetns(this.runner, this.internet.path));
    // A new namespace may inherit forwarding from the host; the router daemon
    // turns it on once its NAT rules are loaded, never before.
    await this.runner.run(['ip', 'netns', 'exec', this.router.name, 'sysctl', '-qw', 'net.ipv4.ip_forward=0']);
    if (!(await router.link(VNET_IF))) await router.addLink(VNET_IF, 'bridge');
    await router.addAddress(VNET_IF, `${ROUTER_IP}/16`);
    await router.setUp(VNET_IF);
    await router.addVeth(INTERNET_IF, 'eth0', { peerNetns: this.internet.path });
    await router.addAddress(INTERNET_IF, `${INTERNET_ROUTER_IP}/24`);
    await router.setUp(INTERNET_IF);
    await internet.addAddress('eth0', `${ECHO_IP}/24`);
    await internet.addAddress('eth0', `${ECHO_ALT_IP}/24`);
    await internet.addAddress('eth0', `${ONPREM_IP}/24`);
    await internet.setUp('eth0');
    await router.replaceRoute({ dst: ONPREM_CIDR, via: ECHO_IP });
    // The internet knows the lab's public ranges live behind the router; the
    // on-premises network (same namespace) reaches the VNet over its peering.
    for (const cidr of [...PUBLIC_RANGES, VNET_CIDR]) await internet.replaceRoute({ dst: cidr, via: INTERNET_ROUTER_IP });
  }

  /** A node namespace on the VNet with `ip` as its primary address. */
  async addNode(nodeName: string, ip: string): Promise<LabNode> {
    const ns: Netns = { name: labNetnsName(this.id, nodeName), path: '' };
    ns.path = await ensureNetns(this.runner, ns.name);
    const node: LabNode = { ...ns, nodeName, ip };
    this.nodes.set(nodeName, node);
    const router = new Ip(inNetns(this.runner, this.router.path));
    const inside = new Ip(inNetns(this.runner, node.path));
    const port = routerPortName(ip);
    await router.addVeth(port, 'eth0', { peerNetns: node.path });
    await this.runner.run(['ip', '-n', this.router.name, 'link', 'set', port, 'master', VNET_IF]);
    await router.setUp(port);
    await inside.addAddress('eth0', `${ip}/32`);
    await inside.setUp('eth0');
    await inside.replaceRoute({ dst: `${ROUTER_IP}/32`, dev: 'eth0', scope: 'link' });
    await inside.replaceRoute({ dst: 'default', via: ROUTER_IP, dev: 'eth0', onlink: true });
    await this.runner.run(['ip', 'netns', 'exec', node.name, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    return node;
  }

  async removeNode(nodeName: string): Promise<void> {
    const node = this.nodes.get(nodeName);
    if (!node) return;
    await deleteNetns(this.runner, node.name);
    this.nodes.delete(nodeName);
  }

  /** A runner whose commands run in the given namespace. */
  in(ns: Netns): CommandRunner {
    return inNetns(this.runner, ns.path);
  }

  /** Removes every namespace of the lab (and with them all links inside). Safe to call twice. */
  async destroy(): Promise<void> {
    for (const name of this.nodes.keys()) await this.removeNode(name);
    await deleteNetns(this.runner, this.internet.name);
    await deleteNetns(this.runner, this.router.name);
  }
}
