import { randomUUID } from 'node:crypto';
import { OPERATION_API_VERSION } from './api-versions.ts';
import { ArmError } from './ids.ts';
import type { Stored } from './schemas.ts';
import type { Operation } from './store.ts';
import type { ArmRequest, ArmResponse, World } from './world.ts';

/*
 * Long-running operations as ARM runs them: a write is applied at once with
 * provisioningState Updating (or Deleting) and answered 201/202 with
 * Azure-AsyncOperation and Location headers; the operation completes after
 * `lroPolls` status polls (or `lroTimeoutMs` if nobody polls), which flips the
 * resource to Succeeded or removes it. An operation that fails does not apply
 * its write: the body from before is put back, marked Failed.
 */


function operationsPath(w: World, op: Operation, kind: 'operations' | 'operationResults'): string {
  return `/subscriptions/${w.config.subscriptionId}/providers/${op.provider}/locations/${w.config.location}/${kind}/${op.id}`;
}

/** 409 while another operation on the same resource is running. */
export function ensureIdle(w: World, resourceId: string, provider: string): void {
  settleExpired(w);
  if (w.activeOperation(resourceId) === undefined) return;
  throw provider === 'Microsoft.Compute'
    ? new ArmError(409, 'OperationNotAllowed', `Operation on '${resourceId}' is not allowed since another operation is in progress.`)
    : new ArmError(409, 'AnotherOperationInProgress', `Another operation on '${resourceId}' is in progress.`);
}

/**
 * Registers an operation for a write just applied, with the body from before
 * it (`null` for a create); returns the headers of the 201/202 answer.
 */
export function startOperation(w: World, req: ArmRequest, provider: string, resourceId: string, previous: Stored | null): Record<string, string> {
  const op: Operation = {
    id: randomUUID(),
    provider,
    resourceId,
    method: req.method,
    polls: 0,
    started: Date.now(),
    status: 'InProgress',
    error: req.lroError,
    previous: req.method === 'DELETE' ? undefined : structuredClone(previous),
  };
  w.store.operations.set(op.id, op);
  const query = `?api-version=${OPERATION_API_VERSION[provider]}`;
  return {
    'azure-asyncoperation': `${req.base}${operationsPath(w, op, 'operations')}${query}`,
    location: `${req.base}${operationsPath(w, op, 'operationResults')}${query}`,
    'retry-after': String(w.config.lroRetryAfterSeconds),
  };
}

/** An operation on a resource that no client started or polls (a VMSS scale or upgrade), running for `ms`. */
export function holdOperation(w: World, provider: string, resourceId: string, ms: number): void {
  ensureIdle(w, resourceId, provider);
  const id = randomUUID();
  w.store.operations.set(id, { id, provider, resourceId, method: 'POST', polls: 0, started: Date.now(), status: 'InProgress', durationMs: ms });
}

function complete(w: World, op: Operation): void {
  if (op.error) {
    op.status = 'Failed';
    const previous = op.previous as Stored | null | undefined;
    if (previous) {
      w.store.replace(op.resourceId, previous);
      w.onReplaced(op.resourceId);
    }
    w.setProvisioningState(op.resourceId, 'Failed');
  } else {
    op.status = 'Succeeded';
    if (op.method === 'DELETE') w.store.remove(op.resourceId);
    else w.setProvisioningState(op.resourceId, 'Succeeded');
  }
  w.onChange();
}

/** How long a finished operation's status stays readable. */
const KEEP_FINISHED_MS = 10 * 60_000;

/** Completes operations nobody polled within the timeout; forgets old finished ones. */
export function settleExpired(w: World): void {
  const now = Date.now();
  for (const op of w.store.operations.values()) {
    if (op.status === 'InProgress' && now - op.started >= (op.durationMs ?? w.config.lroTimeoutMs)) complete(w, op);
    else if (op.status !== 'InProgress' && now - op.started >= KEEP_FINISHED_MS) w.store.operations.delete(op.id);
  }
}

function poll(w: World, id: string): Operation {
  const op = w.store.operations.get(id);
  if (!op) throw new ArmError(404, 'OperationNotFound', `Operation ${id} was not found.`);
  if (op.status === 'InProgress' && op.durationMs === undefined) {
    op.polls++;
    if (op.polls >= w.config.lroPolls) complete(w, op);
    else w.onChange();
  }
  return op;
}

/** GET .../operations/{id}: the Azure-AsyncOperation status document. */
export function getOperationStatus(w: World, id: string): ArmResponse {
  const op = poll(w, id);
  const body: Record<string, unknown> = { id: operationsPath(w, op, 'operations'), name: op.id, status: op.status, startTime: new Date(op.started).toISOString() };
  if (op.error) body['error'] = op.error;
  const headers: Record<string, string> = op.status === 'InProgress' ? { 'retry-after': String(w.config.lroRetryAfterSeconds) } : {};
  return { status: 200, body, headers };
}

/**
 * GET .../operationResults/{id}: the Location protocol. 202 while running;
 * then the resource (PUT/PATCH) or 204 (DELETE), or the operation's error.
 */
export function getOperationResult(w: World, base: string, id: string, view: (resourceId: string) => unknown): ArmResponse {
  const op = poll(w, id);
  if (op.status === 'InProgress') {
    return { status: 202, headers: { location: `${base}${operationsPath(w, op, 'operationResults')}?api-version=${OPERATION_API_VERSION[op.provider]}`, 'retry-after': String(w.config.lroRetryAfterSeconds) } };
  }
  if (op.error) throw new ArmError(400, op.error.code, op.error.message);
  if (op.method === 'DELETE') return { status: 204 };
  return { status: 200, body: view(op.resourceId) };
}
