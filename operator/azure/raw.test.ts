import t from 'tap';
import { createHttpHeaders, type Pipeline, type PipelineRequest, type PipelineResponse } from '@azure/core-rest-pipeline';
import { RawArm } from './raw.ts';
import { toArmError } from './errors.ts';

/*
 * RawArm's protocol handling against scripted answers: the two LRO protocols,
 * failures, and paging. (Against the emulator it runs in client.test.ts.)
 */

type Answer = { status: number; body?: unknown; headers?: Record<string, string> };

function scripted(answers: Answer[]): { pipeline: Pipeline; seen: { method: string; url: string; body: string | undefined; ifMatch: string | undefined }[] } {
  const seen: { method: string; url: string; body: string | undefined; ifMatch: string | undefined }[] = [];
  const pipeline = {
    sendRequest: async (_client: unknown, request: PipelineRequest): Promise<PipelineResponse> => {
      seen.push({ method: request.method, url: request.url, body: request.body as string | undefined, ifMatch: request.headers.get('if-match') });
      const a = answers.shift();
      if (!a) throw new Error(`unexpected request ${request.method} ${request.url}`);
      return { request, status: a.status, headers: createHttpHeaders(a.headers), ...(a.body !== undefined ? { bodyAsText: JSON.stringify(a.body) } : {}) };
    },
  } as unknown as Pipeline;
  return { pipeline, seen };
}

const o = { abortSignal: new AbortController().signal, pollIntervalMs: 1 };

t.test('Azure-AsyncOperation: polls the status URL until Succeeded, without If-Match', async (t) => {
  const { pipeline, seen } = scripted([
    { status: 200, body: {}, headers: { 'azure-asyncoperation': 'https://arm/op/1' } },
    { status: 200, body: { status: 'InProgress' } },
    { status: 200, body: { status: 'Succeeded' } },
  ]);
  await new RawArm(pipeline, 'https://arm/').write('PUT', '/x', '2026-04-01', { a: 1 }, { ...o, ifMatch: 'W/"1"' });
  t.same(seen.map((s) => [s.method, s.url, s.ifMatch]), [['PUT', 'https://arm/x?api-version=2026-04-01', 'W/"1"'], ['GET', 'https://arm/op/1', undefined], ['GET', 'https://arm/op/1', undefined]]);
  t.equal(seen[0]?.body, '{"a":1}', 'the body exactly as given');
});

t.test('a Failed operation throws an error that maps to ARM_OPERATION_FAILED', async (t) => {
  const { pipeline } = scripted([
    { status: 200, body: {}, headers: { 'azure-asyncoperation': 'https://arm/op/1' } },
    { status: 200, body: { status: 'Failed', error: { code: 'AllocationFailed', message: 'no capacity' } } },
  ]);
  const err = await new RawArm(pipeline, 'https://arm').write('PATCH', '/x', 'v', {}, o).catch((e: unknown) => e);
  const mapped = toArmError(err, 'PATCH x', false);
  t.equal(mapped.code, 'ARM_OPERATION_FAILED');
  t.match(mapped.message, /AllocationFailed no capacity/);
});

t.test('the Location protocol: 202 until done', async (t) => {
  const { pipeline, seen } = scripted([
    { status: 202, headers: { location: 'https://arm/result/1', 'retry-after': '0' } },
    { status: 202 },
    { status: 200, body: {} },
  ]);
  await new RawArm(pipeline, 'https://arm').write('PUT', '/x', 'v', {}, o);
  t.equal(seen.length, 3);
  t.equal(seen[2]?.url, 'https://arm/result/1');
});

t.test('an error answer keeps ARM status and code', async (t) => {
  const { pipeline } = scripted([{ status: 403, body: { error: { code: 'LinkedAuthorizationFailed', message: 'no' } } }]);
  const err = await new RawArm(pipeline, 'https://arm').write('PUT', '/x', 'v', {}, o).catch((e: unknown) => e);
  const mapped = toArmError(err, 'PUT x', false);
  t.equal(mapped.status, 403);
  t.equal(mapped.armCode, 'LinkedAuthorizationFailed');
});

t.test('list follows nextLink', async (t) => {
  const { pipeline, seen } = scripted([
    { status: 200, body: { value: [1, 2], nextLink: 'https://arm/x?page=2' } },
    { status: 200, body: { value: [3] } },
  ]);
  t.same(await new RawArm(pipeline, 'https://arm').list('/x', 'v', o), [1, 2, 3]);
  t.equal(seen[1]?.url, 'https://arm/x?page=2');
});
