import { ArmError, key, parentOf, subnetId } from './ids.ts';
import type { Fault, Faults } from './faults.ts';
import { parseCidr } from './ipam.ts';
import { findVmss } from './compute-vmss.ts';
import { holdOperation } from './lro.ts';
import { createPrefix } from './network-prefix.ts';
import { addVmPool, type AddVmPool } from './vm-pool.ts';
import { syncNics } from './nics.ts';
import type { RequestRecord } from './server.ts';
import { Store, type Vm } from './store.ts';
import { addVmss, refreshModelApplied, scaleVmss, type AddVmss } from './vmss.ts';
import type { World } from './world.ts';

export interface AddSubnet {
  resourceGroup: string;
  vnetName: string;
  subnetName: string;
  addressPrefix: string;
}

/** The subnet every emulator starts with, where VMSS go unless told otherwise (AKS's default node subnet). */
export const DEFAULT_SUBNET: AddSubnet = { resourceGroup: 'keg-network', vnetName: 'keg-vnet', subnetName: 'default', addressPrefix: '10.224.0.0/16' };

/**
 * What tests and the lab do to the emulated cloud besides calling ARM:
 * seeding, out-of-band changes, observing, and fault injection.
 */
export class Controller {
  private readonly world: World;
  private readonly faults: Faults;
  private readonly log: RequestRecord[];

  constructor(world: World, faults: Faults, log: RequestRecord[]) {
    this.world = world;
    this.faults = faults;
    this.log = log;
  }

  get defaultSubnetId(): string {
    const s = DEFAULT_SUBNET;
    return subnetId(this.world.config.subscriptionId, s.resourceGroup, s.vnetName, s.subnetName);
  }

  addResourceGroup(name: string): void {
    if (!/^[-\w._()]{1,90}$/.test(name)) throw new ArmError(400, 'InvalidResourceGroupName', `invalid resource group name ${JSON.stringify(name)}`);
    this.world.store.resourceGroups.set(key(name), name);
    this.world.onChange();
  }

  addSubnet(p: AddSubnet): { id: string } {
    const w = this.world;
    w.requireResourceGroup(p.resourceGroup);
    const c = parseCidr(p.addressPrefix);
    const id = subnetId(w.config.subscriptionId, p.resourceGroup, p.vnetName, p.subnetName);
    Store.put(w.store.subnets, {
      id, name: p.subnetName, type: 'Microsoft.Network/virtualNetworks/subnets', etag: w.newEtag(),
      properties: { addressPrefix: `${p.addressPrefix.split('/')[0]}/${c.length}`, provisioningState: 'Succeeded' },
    });
    w.onChange();
    return { id };
  }

  addVmss(p: AddVmss): { id: string; uniqueId: string } {
    return addVmss(this.world, p, this.defaultSubnetId);
  }

  addVmPool(p: AddVmPool): { vmIds: string[]; nicIds: string[] } {
    return addVmPool(this.world, p, this.defaultSubnetId);
  }

  scaleVmss(resourceGroup: string, name: string, instances: number): void {
    scaleVmss(this.world, resourceGroup, name, instances);
  }

  addPublicIpPrefix(p: { resourceGroup: string; name: string; prefixLength: number }): { id: string; ipPrefix: string } {
    const prefix = createPrefix(this.world, p.resourceGroup, p.name, p.prefixLength);
    return { id: prefix.id, ipPrefix: prefix.properties.ipPrefix };
  }

  /** Changes a stored body behind ARM's back; instance NICs and model-applied flags follow. */
  mutate(id: string, fn: (body: Record<string, unknown>) => void): void {
    const body = this.world.store.find(id);
    if (!body) throw new ArmError(404, 'ResourceNotFound', `no resource ${id}`);
    fn(body);
    this.afterChange(id);
  }

  /** After a body changed outside a handler: instance NICs and model-applied flags follow. */
  afterChange(id: string): void {
    const w = this.world;
    const vm = w.store.vms.get(key(id));
    if (vm) syncNics(w, vm satisfies Vm);
    const vmss = w.store.vmss.get(key(vm ? (parentOf(id, 'virtualMachines') ?? id) : id));
    if (vmss) refreshModelApplied(w, vmss);
    w.onChange();
  }

  /** Replaces a stored body (the admin API's form of mutate). */
  replace(id: string, body: Record<string, unknown>): void {
    this.mutate(id, (b) => {
      for (const k of Object.keys(b)) delete b[k];
      Object.assign(b, body, { id: b['id'] ?? id });
    });
  }

  inventory(): Record<string, unknown> {
    return this.world.store.inventory(this.world.config.subscriptionId);
  }

  requests(): RequestRecord[] {
    return this.log.map((r) => structuredClone(r));
  }

  clearRequests(): void {
    this.log.length = 0;
  }

  inject(f: Fault): void {
    this.faults.inject(f);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  setLatency(ms: number): void {
    this.faults.latencyMs = ms;
  }

  setLroPolls(n: number): void {
    this.world.config.lroPolls = n;
  }

  setLroRetryAfter(seconds: number): void {
    this.world.config.lroRetryAfterSeconds = seconds;
  }

  setLroTimeout(ms: number): void {
    this.world.config.lroTimeoutMs = ms;
  }

  setPageSize(n: number): void {
    this.world.config.pageSize = n;
  }

  setPermissions(actions: string[]): void {
    this.world.config.permissions = [...actions];
  }

  /** Lag for the NIC reads after later instance updates; any lag still running is dropped. */
  setNicLagReads(n: number): void {
    this.world.config.nicLagReads = n;
    this.world.laggingNics.clear();
  }

  beginVmssOperation(resourceGroup: string, name: string, ms: number): void {
    const w = this.world;
    const id = findVmss(w, resourceGroup, name).id;
    holdOperation(w, 'Microsoft.Compute', id, ms);
  }

  /** Seeds the default subnet (and its resource group) when missing. */
  ensureDefaults(): void {
    const s = DEFAULT_SUBNET;
    if (!this.world.store.resourceGroups.has(key(s.resourceGroup))) this.addResourceGroup(s.resourceGroup);
    if (!this.world.store.subnets.has(key(this.defaultSubnetId))) this.addSubnet(s);
  }
}
