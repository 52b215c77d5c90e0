import { Counter, Histogram, LATENCY_BUCKETS, type Registry } from '../../lib/metrics.ts';

/** ARM traffic as the operator sees it, one observation per HTTP attempt (retries and LRO polls included). */
export interface ArmMetrics {
  requests: Counter<'operation' | 'code'>;
  latency: Histogram<'operation'>;
  throttles: Counter<'operation'>;
  retries: Counter<'operation'>;
}

export function createArmMetrics(registry: Registry): ArmMetrics {
  return {
    requests: new Counter({
      name: 'keg_operator_arm_requests_total', help: 'ARM HTTP requests by operation and status code (0: no response).',
      labelNames: ['operation', 'code'], registers: [registry],
    }),
    latency: new Histogram({
      name: 'keg_operator_arm_request_duration_seconds', help: 'ARM HTTP request latency by operation.',
      labelNames: ['operation'], buckets: LATENCY_BUCKETS, registers: [registry],
    }),
    throttles: new Counter({
      name: 'keg_operator_arm_throttled_total', help: 'ARM responses 429 (throttled) by operation.',
      labelNames: ['operation'], registers: [registry],
    }),
    retries: new Counter({
      name: 'keg_operator_arm_retries_total', help: 'ARM requests retried after a throttle, a 5xx or a network error.',
      labelNames: ['operation'], registers: [registry],
    }),
  };
}

/**
 * A bounded label for a request: the method and the resource type path
 * without names, e.g. `PUT loadBalancers`,
 * `GET virtualMachineScaleSets/virtualMachines/networkInterfaces`; LRO polls
 * are `GET operationStatus`.
 */
export function operationOf(method: string, url: string): string {
  const path = new URL(url).pathname;
  if (/\/(operations|operationStatuses|operationResults|asyncoperations)\//i.test(path)) return `${method} operationStatus`;
  const m = /\/providers\/Microsoft\.[A-Za-z]+\/(.*)$/i.exec(path);
  if (!m) return `${method} other`;
  const segments = (m[1] ?? '').split('/');
  // Type names sit at even positions: type/name/subtype/name/...
  const types = segments.filter((_, i) => i % 2 === 0);
  return `${method} ${types.join('/')}`;
}
