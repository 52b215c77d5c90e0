import { KegError } from '../../lib/errors.ts';

/** An ARM call that failed, with the HTTP status and ARM's own error code (e.g. `PublicIPPrefixInUse`). */
export class ArmError extends KegError {
  readonly status: number;
  readonly armCode: string;

  constructor(code: string, message: string, status: number, armCode: string, cause?: unknown) {
    super(code, message, cause === undefined ? undefined : { cause });
    this.name = 'ArmError';
    this.status = status;
    this.armCode = armCode;
  }
}

const CODE_BY_STATUS: Record<number, string> = {
  400: 'ARM_BAD_REQUEST',
  401: 'ARM_UNAUTHORIZED',
  403: 'ARM_FORBIDDEN',
  404: 'ARM_NOT_FOUND',
  409: 'ARM_CONFLICT',
  412: 'ARM_PRECONDITION_FAILED',
  429: 'ARM_THROTTLED',
};

interface RestErrorLike {
  statusCode?: number;
  code?: string;
  message?: string;
  name?: string;
}

/**
 * Maps whatever the SDK threw to an ArmError with a stable code. `what` names
 * the call (`PUT loadBalancers kubeegressgateway-ilb`); timeouts and aborts
 * become ARM_TIMEOUT, failures without a response ARM_UNREACHABLE, and a
 * long-running operation that ended Failed ARM_OPERATION_FAILED.
 */
export function toArmError(err: unknown, what: string, timedOut: boolean): ArmError {
  if (err instanceof ArmError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as RestErrorLike;
  const detail = e.message ?? String(err);
  if (timedOut) return new ArmError('ARM_TIMEOUT', `${what}: timed out`, 0, '', err);
  const status = typeof e.statusCode === 'number' ? e.statusCode : 0;
  const armCode = typeof e.code === 'string' ? e.code : '';
  if (status === 0) {
    const failedLro = /long running operation|operation (has )?failed|provisioning state/i.test(detail);
    if (failedLro) return new ArmError('ARM_OPERATION_FAILED', `${what}: ${detail}`, 0, armCode, err);
    return new ArmError('ARM_UNREACHABLE', `${what}: ${detail}`, 0, armCode, err);
  }
  const code = CODE_BY_STATUS[status] ?? (status >= 500 ? 'ARM_SERVER_ERROR' : `ARM_HTTP_${status}`);
  // ARM's message is already in ours; chaining the SDK error would only repeat it.
  return new ArmError(code, `${what}: ${status}${armCode ? ` ${armCode}` : ''}: ${detail}`, status, armCode);
}

export function isArmNotFound(err: unknown): boolean {
  return err instanceof ArmError && err.status === 404;
}
