import { randomUUID } from 'node:crypto';
import { ArmError, key } from './ids.ts';
import type { Operation, Store } from './store.ts';
import type { Stored } from './schemas.ts';

/** Knobs tests turn; all can change while the emulator runs. */
export interface WorldConfig {
  subscriptionId: string;
  tenantId: string;
  location: string;
  /** Items per list page before a nextLink. */
  pageSize: number;
  /** Status polls before an operation completes. */
  lroPolls: number;
  /** Retry-After (seconds) on 201/202 answers and on operation polls. */
  lroRetryAfterSeconds: number;
  /**
   * An operation nobody polls completes after this long anyway, as in Azure:
   * a client killed mid-operation must find the resource settled later.
   */
  lroTimeoutMs: number;
  /** The caller's actions (globs like `Microsoft.Compute/*` or `*`), checked on links in write bodies (linked-auth.ts). */
  permissions: string[];
  /** NIC reads that still return an instance's old NICs after it was updated (0: NICs follow at once). */
  nicLagReads: number;
}

/** A parsed request as handlers see it. */
export interface ArmRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /**
   * The base URL the caller reached the emulator at (its Host header), for
   * the URLs it answers with: through a forwarder that is not the listening address.
   */
  base: string;
  /** Set by an injected fault: the write is accepted but its operation fails. */
  lroError?: { code: string; message: string };
}

/** Path parameters of a route; those a route does not have are ''. */
export interface Params {
  rg: string;
  name: string;
  instance: string;
  nic: string;
  subnet: string;
  id: string;
}

export const NO_PARAMS: Params = { rg: '', name: '', instance: '', nic: '', subnet: '', id: '' };

export interface ArmResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** The emulated cloud: the store plus its configuration and endpoint. */
export class World {
  readonly store: Store;
  readonly config: WorldConfig;
  endpoint = '';
  /** Called after anything changed the store (persistence hooks in here). */
  onChange: () => void = () => {};
  /** Called after a resource body was replaced behind the handlers' back (a rolled-back write): dependants follow. */
  onReplaced: (id: string) => void = () => {};
  /** Instance id -> the NICs it had before its last update, and how many more reads still see them. */
  readonly laggingNics = new Map<string, { nics: Stored[]; reads: number }>();

  constructor(store: Store, config: WorldConfig) {
    this.store = store;
    this.config = config;
  }

  newEtag(): string {
    return `W/"${randomUUID()}"`;
  }

  requireResourceGroup(rg: string): void {
    if (!this.store.resourceGroups.has(key(rg))) {
      throw new ArmError(404, 'ResourceGroupNotFound', `Resource group '${rg}' could not be found.`);
    }
  }

  /** If-Match and If-None-Match, as ARM applies them to writes. */
  checkPreconditions(req: ArmRequest, existing: Stored | undefined): void {
    const ifMatch = header(req, 'if-match');
    if (ifMatch !== undefined && ifMatch !== '*' && (existing === undefined || existing.etag !== ifMatch)) {
      throw new ArmError(412, 'PreconditionFailed', `The condition '${ifMatch}' in the If-Match header was not satisfied.`);
    }
    if (ifMatch === '*' && existing === undefined) {
      throw new ArmError(412, 'PreconditionFailed', 'If-Match: * and the resource does not exist.');
    }
    if (header(req, 'if-none-match') === '*' && existing !== undefined) {
      throw new ArmError(412, 'PreconditionFailed', 'If-None-Match: * and the resource exists.');
    }
  }

  /** The operation in progress on a resource, if any. */
  activeOperation(resourceId: string): Operation | undefined {
    for (const op of this.store.operations.values()) {
      if (op.status === 'InProgress' && key(op.resourceId) === key(resourceId)) return op;
    }
    return undefined;
  }

  setProvisioningState(id: string, state: string): void {
    const r = this.store.find(id);
    const props = r?.['properties'];
    if (props && typeof props === 'object') (props as Record<string, unknown>)['provisioningState'] = state;
  }
}

export function header(req: ArmRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function parseJson(req: ArmRequest): unknown {
  try {
    return JSON.parse(req.body);
  } catch {
    throw new ArmError(400, 'InvalidRequestContent', 'The request content was invalid and could not be deserialized.');
  }
}
