import { request } from 'node:https';
import { ComputeManagementClient } from '@azure/arm-compute';
import { NetworkManagementClient } from '@azure/arm-network';
import { ClientSecretCredential } from '@azure/identity';
import type { Teardown } from '../../netns.ts';
import { startArmEmulator, type ArmEmulator, type ArmEmulatorOptions } from './index.ts';

/**
 * How a real Azure SDK client is pointed at the emulator: the ARM endpoint,
 * the emulator's CA through `tlsOptions` (core-rest-pipeline builds an
 * https.Agent with it), and a ClientSecretCredential whose authority host is
 * the emulator too. The operator does the same from its config.
 */
export function emulatorClientOptions(emu: Pick<ArmEmulator, 'endpoint' | 'caPem'>, retry?: { maxRetries?: number; retryDelayInMs?: number }) {
  return {
    endpoint: emu.endpoint,
    tlsOptions: { ca: emu.caPem },
    ...(retry ? { retryOptions: retry } : {}),
  };
}

export function emulatorCredential(emu: Pick<ArmEmulator, 'endpoint' | 'caPem' | 'tenantId'>, clientId = 'client-id', secret = 'secret'): ClientSecretCredential {
  return new ClientSecretCredential(emu.tenantId, clientId, secret, {
    authorityHost: emu.endpoint,
    disableInstanceDiscovery: true,
    tlsOptions: { ca: emu.caPem },
  });
}

export interface SdkClients {
  network: NetworkManagementClient;
  compute: ComputeManagementClient;
  credential: ClientSecretCredential;
}

/** Network and compute clients of the real SDK, talking to the emulator. */
export function sdkClients(emu: ArmEmulator, retry?: { maxRetries?: number; retryDelayInMs?: number }): SdkClients {
  const credential = emulatorCredential(emu);
  const opts = emulatorClientOptions(emu, retry);
  return {
    credential,
    network: new NetworkManagementClient(credential, emu.subscriptionId, opts),
    compute: new ComputeManagementClient(credential, emu.subscriptionId, opts),
  };
}

/** An emulator for one test, stopped in teardown, with SDK clients already pointed at it. */
export async function startTestArmEmulator(t: Teardown, opts: ArmEmulatorOptions = {}): Promise<{ emu: ArmEmulator } & SdkClients> {
  const emu = await startArmEmulator(opts);
  t.teardown(() => emu.stop());
  return { emu, ...sdkClients(emu) };
}

/** A bare HTTPS call to the emulator, for what the SDK would not send. */
export function raw(emu: Pick<ArmEmulator, 'endpoint' | 'caPem'>, method: string, path: string, opts: { token?: string; body?: string } = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, emu.endpoint);
    const headers: Record<string, string> = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
    const req = request(url, { method, ca: emu.caPem, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}
