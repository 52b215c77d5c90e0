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
