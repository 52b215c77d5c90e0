import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { KegError } from '../../../lib/errors.ts';
import { key, rgId } from './ids.ts';
import type { LoadBalancer, NicConfig, PublicIpPrefix, Stored, Vmss } from './schemas.ts';

export interface Subnet extends Stored {
  properties: { addressPrefix: string; provisioningState: string };
}

export interface Vm extends Stored {
  location: string;
  instanceId: string;
  properties: {
    provisioningState: string;
    latestModelApplied: boolean;
    vmId: string;
    osProfile: { computerName: string; [k: string]: unknown };
    networkProfile: { networkInterfaces: { id: string; properties: { primary: boolean } }[] };
    networkProfileConfiguration: { networkInterfaceConfigurations: NicConfig[] };
    [k: string]: unknown;
  };
}

export interface PublicIp {
  id: string;
  name: string;
  type: string;
  location: string;
  properties: { ipAddress: string; publicIPAllocationMethod: string; publicIPPrefix?: { id: string }; ipConfiguration?: { id: string } };
}

/** A public IP address resource of its own (`Microsoft.Network/publicIPAddresses`), as standalone NICs use. */
export interface PublicIpResource extends Stored {
  location: string;
  properties: PublicIp['properties'] & { provisioningState: string; publicIPAddressVersion: string };
}

/** A standalone VM (`Microsoft.Compute/virtualMachines`), as AKS node pools of type VirtualMachines have. */
export interface StandaloneVm extends Stored {
  location: string;
  tags: Record<string, string>;
  properties: {
    provisioningState: string;
    vmId: string;
    osProfile: { computerName: string; [k: string]: unknown };
    networkProfile: { networkInterfaces: { id: string; properties: { primary: boolean } }[] };
    [k: string]: unknown;
  };
}

export interface NicIpConfig {
  id: string;
  name: string;
  properties: {
    primary: boolean;
    privateIPAddress: string;
    privateIPAllocationMethod: string;
    privateIPAddressVersion: string;
    provisioningState: string;
    subnet: { id: string };
    loadBalancerBackendAddressPools: { id: string }[];
    publicIPAddress?: PublicIp;
  };
}

export interface Nic extends Stored {
  location: string;
  properties: {
    provisioningState: string;
    primary: boolean;
    virtualMachine: { id: string };
    ipConfigurations: NicIpConfig[];
  };
}

const operationSchema = z.object({
  id: z.string(),
  provider: z.string(),
  resourceId: z.string(),
  method: z.string(),
  polls: z.int(),
  started: z.number(),
  status: z.enum(['InProgress', 'Succeeded', 'Failed']),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  /** The body before the write (null: the write created it), put back if the operation fails. */
  previous: z.unknown().optional(),
  /** How long an operation nobody polls runs (default: the world's lroTimeoutMs). */
  durationMs: z.number().optional(),
});
/** A long-running operation, kept as plain data so it survives a restart. */
export type Operation = z.infer<typeof operationSchema>;

/** Every kind the emulator stores, keyed by lower-cased resource id. */
export class Store {
  readonly resourceGroups = new Map<string, string>();
  readonly subnets = new Map<string, Subnet>();
  readonly lbs = new Map<string, LoadBalancer>();
  readonly prefixes = new Map<string, PublicIpPrefix>();
  readonly vmss = new Map<string, Vmss>();
  readonly vms = new Map<string, Vm>();
  readonly nics = new Map<string, Nic>();
  readonly standaloneVms = new Map<string, StandaloneVm>();
  readonly publicIps = new Map<string, PublicIpResource>();
  readonly operations = new Map<string, Operation>();
  /** Next instance id per VMSS (ids are never reused, as in Azure). */
  readonly nextInstance = new Map<string, number>();

  private tables(): Map<string, Stored>[] {
    return [this.subnets, this.lbs, this.prefixes, this.vmss, this.vms, this.nics, this.standaloneVms, this.publicIps];
  }

  /** The stored body of any resource, or undefined. */
  find(id: string): Stored | undefined {
    for (const t of this.tables()) {
      const r = t.get(key(id));
      if (r) return r;
    }
    return undefined;
  }

  /** Puts a body back in the table that holds its id. */
  replace(id: string, body: Stored): void {
    for (const t of this.tables()) if (t.has(key(id))) t.set(key(id), body);
  }

  remove(id: string): void {
    for (const t of this.tables()) t.delete(key(id));
  }

  /** Every resource, resource groups included, keyed by lower-cased id, as a deep copy. */
  inventory(subscriptionId: string): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const name of this.resourceGroups.values()) {
      const id = rgId(subscriptionId, name);
      out[key(id)] = { id, name, type: 'Microsoft.Resources/resourceGroups' };
    }
    for (const t of this.tables()) for (const [k, v] of t) out[k] = v;
    return structuredClone(out);
  }

  static put<T extends Stored>(table: Map<string, T>, value: T): T {
    table.set(key(value.id), value);
    return value;
  }

  toJSON(): StateFile {
    return {
      version: 1,
      resourceGroups: [...this.resourceGroups.values()],
      subnets: [...this.subnets.values()],
      lbs: [...this.lbs.values()],
      prefixes: [...this.prefixes.values()],
      vmss: [...this.vmss.values()],
      vms: [...this.vms.values()],
      nics: [...this.nics.values()],
      standaloneVms: [...this.standaloneVms.values()],
      publicIps: [...this.publicIps.values()],
      operations: [...this.operations.values()],
      nextInstance: Object.fromEntries(this.nextInstance),
    };
  }

  static fromJSON(data: StateFile): Store {
    const s = new Store();
    for (const rg of data.resourceGroups) s.resourceGroups.set(key(rg), rg);
    for (const r of data.subnets as Subnet[]) Store.put(s.subnets, r);
    for (const r of data.lbs as LoadBalancer[]) Store.put(s.lbs, r);
    for (const r of data.prefixes as PublicIpPrefix[]) Store.put(s.prefixes, r);
    for (const r of data.vmss as Vmss[]) Store.put(s.vmss, r);
    for (const r of data.vms as Vm[]) Store.put(s.vms, r);
    for (const r of data.nics as Nic[]) Store.put(s.nics, r);
    for (const r of data.standaloneVms as StandaloneVm[]) Store.put(s.standaloneVms, r);
    for (const r of data.publicIps as PublicIpResource[]) Store.put(s.publicIps, r);
    for (const o of data.operations) s.operations.set(o.id, o);
    for (const [k, v] of Object.entries(data.nextInstance)) s.nextInstance.set(k, v);
    return s;
  }
}

const storedSchema = z.looseObject({ id: z.string(), name: z.string(), type: z.string() });
const stateFileSchema = z.object({
  version: z.literal(1),
  resourceGroups: z.array(z.string()),
  subnets: z.array(storedSchema),
  lbs: z.array(storedSchema),
  prefixes: z.array(storedSchema),
  vmss: z.array(storedSchema),
  vms: z.array(storedSchema),
  nics: z.array(storedSchema),
  standaloneVms: z.array(storedSchema).default([]),
  publicIps: z.array(storedSchema).default([]),
  operations: z.array(operationSchema),
  nextInstance: z.record(z.string(), z.int()),
});
export type StateFile = z.infer<typeof stateFileSchema>;

const STATE_FILE = 'state.json';

/** Writes the state so that a crash leaves either the old or the new file, never half of one. */
export function saveState(dir: string, store: Store): void {
  const tmp = join(dir, `${STATE_FILE}.tmp`);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify(store.toJSON()));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, STATE_FILE));
}

/** The saved state of `dir`, or undefined when there is none yet. */
export function loadState(dir: string): Store | undefined {
  const file = join(dir, STATE_FILE);
  if (!existsSync(file)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new KegError('ARM_EMULATOR_STATE', `cannot read ${file}`, { cause: err });
  }
  const r = stateFileSchema.safeParse(raw);
  if (!r.success) throw new KegError('ARM_EMULATOR_STATE', `invalid state file ${file}: ${r.error.message}`);
  return Store.fromJSON(r.data);
}
