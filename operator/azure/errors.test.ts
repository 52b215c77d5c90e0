import t from 'tap';
import { ArmError, isArmNotFound, toArmError } from './errors.ts';

const rest = (statusCode: number, code?: string) => Object.assign(new Error('boom'), { statusCode, code });

t.test('SDK errors map to stable codes', async (t) => {
  t.equal(toArmError(rest(404, 'ResourceNotFound'), 'GET x', false).code, 'ARM_NOT_FOUND');
  t.ok(isArmNotFound(toArmError(rest(404), 'GET x', false)));
  t.notOk(isArmNotFound(new Error('x')));
  t.equal(toArmError(rest(409, 'Conflict'), 'PUT x', false).code, 'ARM_CONFLICT');
  t.equal(toArmError(rest(412), 'PUT x', false).code, 'ARM_PRECONDITION_FAILED');
  t.equal(toArmError(rest(429), 'PUT x', false).code, 'ARM_THROTTLED');
  t.equal(toArmError(rest(403), 'PUT x', false).code, 'ARM_FORBIDDEN');
  t.equal(toArmError(rest(503), 'PUT x', false).code, 'ARM_SERVER_ERROR');
  t.equal(toArmError(rest(418), 'PUT x', false).code, 'ARM_HTTP_418');
  const e = toArmError(rest(400, 'InvalidResourceReference'), 'PUT loadBalancers ilb', false);
  t.equal(e.armCode, 'InvalidResourceReference');
  t.equal(e.status, 400);
  t.match(e.message, /^PUT loadBalancers ilb: 400 InvalidResourceReference: boom$/);
  t.equal(toArmError(new Error('socket hang up'), 'GET x', false).code, 'ARM_UNREACHABLE');
  t.equal(toArmError(new Error('The long running operation has failed'), 'PUT x', false).code, 'ARM_OPERATION_FAILED');
  t.equal(toArmError(new Error('aborted'), 'GET x', true).code, 'ARM_TIMEOUT');
  t.equal(toArmError('weird', 'GET x', false).code, 'ARM_UNREACHABLE');
  const already = new ArmError('ARM_X', 'x', 1, 'y');
  t.equal(toArmError(already, 'GET', false), already);
});
