import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecRunner, type CommandRunner } from '../../../lib/exec/runner.ts';
import { createLogger, type Logger } from '../../../lib/log.ts';
import { adminHandler } from './admin.ts';
import { TokenIssuer } from './auth.ts';
import { loadOrCreateTls } from './certs.ts';
import { Controller, type AddSubnet } from './controller.ts';
import { Faults, type Fault } from './faults.ts';
import { OPERATOR_ACTIONS } from './linked-auth.ts';
import { ArmServer, type RequestRecord } from './server.ts';
import { loadState, saveState, Store } from './store.ts';
import type { AddVmPool } from './vm-pool.ts';
import type { AddVmss } from './vmss.ts';
import { World } from './world.ts';

export type { Fault } from './faults.ts';
export type { RequestRecord } from './server.ts';
export type { AddSubnet } from './controller.ts';
export type { AddVmPool } from './vm-pool.ts';
export { DEFAULT_SUBNET } from './controller.ts';
export { ASSIGN_IDENTITY, OPERATOR_ACTIONS } from './linked-auth.ts';

export interface ArmEmulatorOptions {
  subscriptionId?: string;
  location?: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** More names and addresses the certificate covers, where clients reach the emulator through a forwarder. */
  tlsHosts?: string[];
  // Additions to the contract:
  tenantId?: string;
  /** List page size before a nextLink (default 50). */
  pageSize?: number;
  /** Status polls before an operation completes (default 2). */
  lroPolls?: number;
  /** Retry-After on LRO answers and polls, in seconds (default 0: tests poll at once). */
  lroRetryAfterSeconds?: number;
  /** Operations nobody polls complete after this long (default 10 s). */
  lroTimeoutMs?: number;
  /**
   * The caller's Azure actions, checked on linked resources in write bodies
   * (default: the operator's role, OPERATOR_ACTIONS; `['*']` for an owner).
   */
  permissions?: string[];
  /** NIC reads that return an instance's old NICs after an update (default 0). */
  nicLagReads?: number;
  /** Keep TLS material, the token key and the state here, and reload them on start (default: a temporary dir, removed by stop). */
  stateDir?: string;
  tokenLifetimeSeconds?: number;
  log?: Logger;
  runner?: CommandRunner;
}

export interface ArmEmulator {
  /** ARM base URL, also the AAD authority host, e.g. https://127.0.0.1:43210. */
  endpoint: string;
  caPem: string;
  caPath: string;
  subscriptionId: string;
  tenantId: string;
  location: string;
  /** The subnet VMSS go to when addVmss names none (10.224.0.0/16). */
  defaultSubnetId: string;
  addResourceGroup(name: string): void;
  addSubnet(p: AddSubnet): { id: string };
  addVmss(p: AddVmss): { id: string; uniqueId: string };
  /** Seeds an AKS node pool of type VirtualMachines: standalone VMs with tagged NICs. */
  addVmPool(p: AddVmPool): { vmIds: string[]; nicIds: string[] };
  scaleVmss(resourceGroup: string, name: string, instances: number): void;
  addPublicIpPrefix(p: { resourceGroup: string; name: string; prefixLength: number }): { id: string; ipPrefix: string };
  // oxlint-disable-next-line typescript/no-explicit-any -- the contract hands tests the raw stored JSON
  mutate(id: string, fn: (body: any) => void): void;
  inventory(): Record<string, unknown>;
  requests(): RequestRecord[];
  clearRequests(): void;
  inject(f: Fault): void;
  clearFaults(): void;
  setLatency(ms: number): void;
  setLroPolls(n: number): void;
  setLroRetryAfter(seconds: number): void;
  setLroTimeout(ms: number): void;
  setPageSize(n: number): void;
  setPermissions(actions: string[]): void;
  setNicLagReads(n: number): void;
  /** Starts a VMSS-level operation (a scale or an upgrade) that runs for `ms`: instance writes meanwhile get 409. */
  beginVmssOperation(resourceGroup: string, name: string, ms: number): void;
  stop(): Promise<void>;
}

export const DEFAULT_SUBSCRIPTION_ID = '00000000-0000-0000-0000-000000000001';
export const DEFAULT_TENANT_ID = '00000000-0000-0000-0000-0000000000aa';

function tokenKey(dir: string): Buffer {
  const file = join(dir, 'token.key');
  if (existsSync(file)) return readFileSync(file);
  const k = randomBytes(32);
  writeFileSync(file, k, { mode: 0o600 });
  return k;
}

/** Starts an ARM (and AAD token) emulator over HTTPS with its own CA. */
export async function startArmEmulator(opts: ArmEmulatorOptions = {}): Promise<ArmEmulator> {
  const host = opts.host ?? '127.0.0.1';
  const dir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'keg-arm-'));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const log = opts.log ?? createLogger({ level: 'warn' });
  const connectHost = host === '0.0.0.0' ? '127.0.0.1' : host;
  const tls = await loadOrCreateTls(join(dir, 'tls'), opts.runner ?? new ExecRunner(), [...new Set([connectHost, '127.0.0.1', 'localhost', ...(opts.tlsHosts ?? [])])]);
  const store = (opts.stateDir !== undefined ? loadState(dir) : undefined) ?? new Store();
  const world = new World(store, {
    subscriptionId: opts.subscriptionId ?? DEFAULT_SUBSCRIPTION_ID,
    tenantId: opts.tenantId ?? DEFAULT_TENANT_ID,
    location: opts.location ?? 'eastus',
    pageSize: opts.pageSize ?? 50,
    lroPolls: opts.lroPolls ?? 2,
    lroRetryAfterSeconds: opts.lroRetryAfterSeconds ?? 0,
    lroTimeoutMs: opts.lroTimeoutMs ?? 10_000,
    permissions: [...(opts.permissions ?? OPERATOR_ACTIONS)],
    nicLagReads: opts.nicLagReads ?? 0,
  });
  if (opts.stateDir !== undefined) world.onChange = () => saveState(dir, store);
  const faults = new Faults();
  const requests: RequestRecord[] = [];
  const c = new Controller(world, faults, requests);
  const server = new ArmServer({ world, issuer: new TokenIssuer(tokenKey(dir), opts.tokenLifetimeSeconds), faults, tls, admin: adminHandler(c), log, requests });
  world.onReplaced = (id) => c.afterChange(id);
  c.ensureDefaults();
  world.endpoint = (await server.listen(host, opts.port ?? 0)).replace('0.0.0.0', connectHost);
  return {
    endpoint: world.endpoint, caPem: tls.caPem, caPath: tls.caPath,
    subscriptionId: world.config.subscriptionId, tenantId: world.config.tenantId, location: world.config.location,
    defaultSubnetId: c.defaultSubnetId,
    addResourceGroup: (name) => c.addResourceGroup(name),
    addSubnet: (p) => c.addSubnet(p),
    addVmss: (p) => c.addVmss(p),
    addVmPool: (p) => c.addVmPool(p),
    scaleVmss: (rg, name, n) => c.scaleVmss(rg, name, n),
    addPublicIpPrefix: (p) => c.addPublicIpPrefix(p),
    mutate: (id, fn) => c.mutate(id, fn),
    inventory: () => c.inventory(),
    requests: () => c.requests(),
    clearRequests: () => c.clearRequests(),
    inject: (f) => c.inject(f),
    clearFaults: () => c.clearFaults(),
    setLatency: (ms) => c.setLatency(ms),
    setLroPolls: (n) => c.setLroPolls(n),
    setLroRetryAfter: (s) => c.setLroRetryAfter(s),
    setLroTimeout: (ms) => c.setLroTimeout(ms),
    setPageSize: (n) => c.setPageSize(n),
    setPermissions: (a) => c.setPermissions(a),
    setNicLagReads: (n) => c.setNicLagReads(n),
    beginVmssOperation: (rg, name, ms) => c.beginVmssOperation(rg, name, ms),
    stop: async () => {
      await server.close();
      if (opts.stateDir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}
