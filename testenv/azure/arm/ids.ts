import { KegError } from '../../../lib/errors.ts';

/** An ARM error answer: HTTP status plus the `{error:{code,message}}` body ARM sends. */
export class ArmError extends KegError {
  readonly status: number;

  constructor(status: number, code: string, message: string) {
    super(code, message);
    this.name = 'ArmError';
    this.status = status;
  }
}

export const badReference = (what: string, id: string): ArmError =>
  new ArmError(400, 'InvalidResourceReference', `${what} references resource ${id} which was not found.`);

/** ARM ids compare case-insensitively; the store keys on the lower-cased form. */
export const key = (id: string): string => id.toLowerCase();

export function rgId(sub: string, rg: string): string {
  return `/subscriptions/${sub}/resourceGroups/${rg}`;
}

export function providerId(sub: string, rg: string, provider: string, ...typeAndNames: string[]): string {
  return `${rgId(sub, rg)}/providers/${provider}/${typeAndNames.join('/')}`;
}

export function subnetId(sub: string, rg: string, vnet: string, subnet: string): string {
  return providerId(sub, rg, 'Microsoft.Network', 'virtualNetworks', vnet, 'subnets', subnet);
}

export function vmssId(sub: string, rg: string, name: string): string {
  return providerId(sub, rg, 'Microsoft.Compute', 'virtualMachineScaleSets', name);
}

/** The id of the parent resource of a child (e.g. the LB of a backend pool). */
export function parentOf(id: string, childType: string): string | undefined {
  const i = id.toLowerCase().lastIndexOf(`/${childType.toLowerCase()}/`);
  return i < 0 ? undefined : id.slice(0, i);
}

export function sameId(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && key(a) === key(b);
}
