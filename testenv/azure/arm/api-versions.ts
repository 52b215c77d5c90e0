import { ArmError } from './ids.ts';

/*
 * The api-versions ARM accepts per resource type, as far as the emulator
 * serves it: the versions our @azure/arm-compute and @azure/arm-network
 * packages send, plus a few older real ones (those the Go original's SDK
 * and the az CLI use). A missing or unknown version is refused as ARM
 * refuses it, so a client built against an SDK ARM would refuse fails here too.
 */

const COMPUTE = ['2026-04-01', '2025-04-01', '2024-11-01', '2024-07-01', '2024-03-01', '2023-09-01', '2023-07-01', '2023-03-01', '2022-11-01', '2022-08-01'];
const NETWORK = ['2026-01-01', '2025-05-01', '2025-03-01', '2025-01-01', '2024-10-01', '2024-07-01', '2024-05-01', '2024-03-01', '2024-01-01', '2023-11-01', '2023-09-01', '2023-06-01', '2023-05-01', '2023-04-01', '2023-02-01', '2022-07-01'];
/** The network views of VMSS instances (their NICs and public IPs) exist only in these. */
const VMSS_NETWORK_VIEWS = ['2018-10-01', '2017-03-30'];

/** The api-version the emulator's own operation URLs carry, per provider. */
export const OPERATION_API_VERSION: Record<string, string> = { 'Microsoft.Compute': '2024-07-01', 'Microsoft.Network': '2024-05-01' };

function accepted(path: string): { type: string; versions: readonly string[] } | undefined {
  const p = path.toLowerCase();
  if (/\/microsoft\.compute\/virtualmachinescalesets\/[^/]+\/(virtualmachines\/[^/]+\/)?(networkinterfaces|publicipaddresses)(\/|$)/.test(p)) {
    return { type: 'Microsoft.Compute/virtualMachineScaleSets (network views)', versions: VMSS_NETWORK_VIEWS };
  }
  if (p.includes('/providers/microsoft.compute/')) return { type: 'Microsoft.Compute', versions: COMPUTE };
  if (p.includes('/providers/microsoft.network/')) return { type: 'Microsoft.Network', versions: NETWORK };
  return undefined;
}

/** 400 MissingApiVersionParameter or NoRegisteredProviderFound, as ARM answers. */
export function checkApiVersion(path: string, apiVersion: string | null, location: string): void {
  const a = accepted(path);
  if (!a) return;
  if (!apiVersion) throw new ArmError(400, 'MissingApiVersionParameter', 'The api-version query parameter (?api-version=) is required for all requests.');
  if (!a.versions.includes(apiVersion)) {
    throw new ArmError(400, 'NoRegisteredProviderFound',
      `No registered resource provider found for location '${location}' and API version '${apiVersion}' for type '${a.type}'. The supported api-versions are '${a.versions.join(', ')}'.`);
  }
}
