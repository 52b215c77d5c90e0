import t from 'tap';
import { RestError } from '@azure/core-rest-pipeline';
import { KegError, describeError, serializeError } from './errors.ts';
import { KubeApiError } from './kube/rest.ts';
import { toArmError } from '../operator/azure/errors.ts';

// The chains the code builds: lib/kube/rest.ts wraps a socket error in
// KUBE_UNREACHABLE quoting its message; operator/azure/errors.ts maps a
// RestError; callers wrap either again with context.
const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED', errno: -111, syscall: 'connect' });

t.test('a KegError wrapping a Node system error: the cause once', async (t) => {
  const err = new KegError('KUBE_UNREACHABLE', 'GET /api/v1/pods: connect ECONNREFUSED 127.0.0.1:1', { cause: refused() });
  t.equal(describeError(err), 'GET /api/v1/pods: connect ECONNREFUSED 127.0.0.1:1');
  const outer = new KegError('LEASE_FAILED', 'cannot renew the lease', { cause: err });
  t.equal(describeError(outer), 'cannot renew the lease: GET /api/v1/pods: connect ECONNREFUSED 127.0.0.1:1');
  t.equal(describeError(new KegError('X', 'wrapped', { cause: refused() })), 'wrapped: connect ECONNREFUSED 127.0.0.1:1', 'a cause not quoted is appended');
  const same = new Error('connect ECONNREFUSED 127.0.0.1:1', { cause: refused() });
  t.equal(describeError(same), 'connect ECONNREFUSED 127.0.0.1:1', 'the issue\'s "x: x" is gone');
  t.same(serializeError(outer), {
    type: 'KegError', code: 'LEASE_FAILED', message: 'cannot renew the lease',
    cause: { type: 'KegError', code: 'KUBE_UNREACHABLE', message: 'GET /api/v1/pods: connect ECONNREFUSED 127.0.0.1:1', cause: { type: 'Error', code: 'ECONNREFUSED' } },
  });
});

t.test('an Azure RestError, mapped and wrapped', async (t) => {
  const rest = new RestError('Resource group \'rg\' could not be found.', { code: 'ResourceGroupNotFound', statusCode: 404 });
  const arm = toArmError(rest, 'GET loadBalancers ilb', false);
  const err = new KegError('LB_FAILED', 'cannot read the gateway load balancer', { cause: arm });
  const text = describeError(err);
  t.equal(text, 'cannot read the gateway load balancer: GET loadBalancers ilb: 404 ResourceGroupNotFound: Resource group \'rg\' could not be found.');
  t.equal(text.split('could not be found').length, 2, 'once');
  t.match(serializeError(err), { code: 'LB_FAILED', cause: { type: 'ArmError', code: 'ARM_NOT_FOUND', status: 404 } });
  const unreachable = toArmError(Object.assign(new RestError('getaddrinfo ENOTFOUND management.azure.com', { code: 'ENOTFOUND' }), { cause: refused() }), 'PUT publicIPPrefixes p', false);
  t.equal(describeError(unreachable), 'PUT publicIPPrefixes p: getaddrinfo ENOTFOUND management.azure.com: connect ECONNREFUSED 127.0.0.1:1');
});

t.test('a Kubernetes API error', async (t) => {
  const api = new KubeApiError('PATCH', '/apis/x/v1/namespaces/a/sgcs/b/status', 409, 'Conflict', 'the object has been modified');
  const err = new KegError('STATUS_WRITE_FAILED', 'cannot write the SGC status', { cause: api });
  t.equal(describeError(err), 'cannot write the SGC status: PATCH /apis/x/v1/namespaces/a/sgcs/b/status: 409 Conflict: the object has been modified');
  t.match(serializeError(err), { cause: { type: 'KubeApiError', code: 'KUBE_CONFLICT', status: 409 } });
});

t.test('AggregateError (both address families refused), plain values', async (t) => {
  const agg = Object.assign(new AggregateError([refused(), new Error('connect ECONNREFUSED ::1:1')]), { code: 'ECONNREFUSED' });
  t.equal(describeError(new TypeError('fetch failed', { cause: agg })), 'fetch failed: connect ECONNREFUSED 127.0.0.1:1; connect ECONNREFUSED ::1:1');
  t.equal(describeError('plain'), 'plain');
  t.same(serializeError('plain'), { type: 'string', code: 'UNKNOWN', message: 'plain' });
});
