import t from 'tap';
import { createHttpHeaders, createPipelineRequest, type PipelineResponse, type PipelineRequest } from '@azure/core-rest-pipeline';
import { createRegistry } from '../../lib/metrics.ts';
import { createArmMetrics } from './metrics.ts';
import { armRetryPolicy, parseRetryAfter } from './policy.ts';

const URL_LB = 'https://arm/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/ilb?api-version=1';

function setup(maxRetries = 3, maxRetryAfterMs = 60_000) {
  const registry = createRegistry('test', { processMetrics: false });
  const metrics = createArmMetrics(registry);
  const policy = armRetryPolicy({ metrics, maxRetries, baseDelayMs: 5, maxDelayMs: 20, requestTimeoutMs: 1234, maxRetryAfterMs });
  return { registry, policy };
}

function responder(script: (number | Error | [number, string])[]) {
  const calls: { at: number; timeout: number }[] = [];
  const next = async (req: PipelineRequest): Promise<PipelineResponse> => {
    calls.push({ at: Date.now(), timeout: req.timeout });
    const step = script.shift() ?? 200;
    if (step instanceof Error) throw step;
    const [status, retryAfter] = Array.isArray(step) ? step : [step, undefined];
    return { status, request: req, headers: createHttpHeaders(retryAfter ? { 'retry-after': retryAfter } : {}) };
  };
  return { calls, next };
}

t.test('parseRetryAfter', async (t) => {
  t.equal(parseRetryAfter('3'), 3_000);
  t.equal(parseRetryAfter(undefined), undefined);
  t.equal(parseRetryAfter('soon'), undefined);
  t.equal(parseRetryAfter(new Date(10_000).toUTCString(), 5_000), 5_000);
  t.equal(parseRetryAfter(new Date(0).toUTCString(), 5_000), 0);
});

t.test('retries throttles and 5xx, waiting at least Retry-After, and counts every attempt', async (t) => {
  const { policy, registry } = setup();
  const { calls, next } = responder([[429, '1'], 503, 200]);
  const res = await policy.sendRequest(createPipelineRequest({ url: URL_LB, method: 'PUT' }), next);
  t.equal(res.status, 200);
  t.equal(calls.length, 3);
  t.ok(calls[1]!.at - calls[0]!.at >= 1_000, 'not before Retry-After');
  t.equal(calls[0]!.timeout, 1234, 'per-attempt timeout');
  const text = await registry.metrics();
  t.match(text, /keg_operator_arm_requests_total\{operation="PUT loadBalancers",code="429"[^}]*\} 1/);
  t.match(text, /keg_operator_arm_throttled_total\{operation="PUT loadBalancers"[^}]*\} 1/);
  t.match(text, /keg_operator_arm_retries_total\{operation="PUT loadBalancers"[^}]*\} 2/);
});

t.test('gives up after maxRetries, on client errors, and on a Retry-After too long to wait', async (t) => {
  const a = setup(2);
  const r1 = responder([500, 500, 500, 500]);
  t.equal((await a.policy.sendRequest(createPipelineRequest({ url: URL_LB, method: 'GET' }), r1.next)).status, 500);
  t.equal(r1.calls.length, 3);
  const r2 = responder([404]);
  t.equal((await a.policy.sendRequest(createPipelineRequest({ url: URL_LB, method: 'GET' }), r2.next)).status, 404);
  t.equal(r2.calls.length, 1);
  const b = setup(3, 1_000);
  const r3 = responder([[429, '60']]);
  t.equal((await b.policy.sendRequest(createPipelineRequest({ url: URL_LB, method: 'GET' }), r3.next)).status, 429, 'returned to the caller');
  t.equal(r3.calls.length, 1);
});

t.test('network errors are retried; the last one is thrown; an abort stops the wait', async (t) => {
  const { policy } = setup(1);
  const r = responder([new Error('ECONNRESET'), new Error('ECONNREFUSED')]);
  await t.rejects(policy.sendRequest(createPipelineRequest({ url: URL_LB, method: 'GET' }), r.next), /ECONNREFUSED/);
  t.equal(r.calls.length, 2);
  const ctl = new AbortController();
  const slow = responder([[429, '30']]);
  const req = createPipelineRequest({ url: URL_LB, method: 'GET', abortSignal: ctl.signal });
  setTimeout(() => ctl.abort(), 50);
  await t.rejects(policy.sendRequest(req, slow.next), { name: 'AbortError' });
  const pre = new AbortController();
  pre.abort();
  const r4 = responder([500]);
  await t.rejects(policy.sendRequest(createPipelineRequest({ url: URL_LB, method: 'GET', abortSignal: pre.signal }), r4.next), { name: 'AbortError' });
});
