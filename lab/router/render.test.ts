import t from 'tap';
import { RouterConfigSchema } from './config.ts';
import { BUCKETS, backendRulePriority, bucketMap, desiredRoutes, renderRouterTable } from './render.ts';

t.test('a failure moves only the failed backend\'s buckets, and recovery restores them', async (t) => {
  const all = ['10.224.0.4', '10.224.0.5', '10.224.0.6'];
  const before = bucketMap(all, all);
  t.equal(before.length, BUCKETS);
  const after = bucketMap(all, ['10.224.0.4', '10.224.0.6']);
  for (let b = 0; b < BUCKETS; b++) {
    if (before[b] !== '10.224.0.5') t.equal(after[b], before[b], `bucket ${b} stays`);
    else t.not(after[b], '10.224.0.5', `bucket ${b} moves off the failed backend`);
  }
  t.same(bucketMap(all, all), before, 'deterministic');
  t.same(bucketMap(all, []), [], 'nothing healthy: no buckets');
});

t.test('the rendered table and routes', async (t) => {
  const cfg = RouterConfigSchema.parse({
    frontends: [
      { ip: '10.224.0.200', port: 6000, probePort: 8082, probePath: '/gw/a', backends: ['10.224.0.4'] },
      { ip: '10.224.0.200', port: 6001, probePort: 8082, probePath: '/gw/b', backends: ['10.224.0.4'] },
    ],
    secondaryRoutes: [{ ip: '10.224.0.100', nodeIp: '10.224.0.4' }],
    podRoutes: [{ cidr: '10.244.1.0/24', nodeIp: '10.224.0.6' }],
    publicIps: [{ privateIp: '10.224.0.100', publicIp: '20.1.2.3' }],
  });
  const text = renderRouterTable(cfg, new Map([['10.224.0.200:6000', ['10.224.0.4']]]), 'inet0');
  t.match(text, /ip daddr 10\.224\.0\.200 udp dport 6000 meta mark set jhash ip saddr \. udp sport \. ip daddr \. udp dport mod 64 seed 0x4b4547 map \{ 0 : 0x10004, 1 : 0x10004,/);
  t.match(text, /ip daddr 10\.224\.0\.200 udp dport 6001 drop/, 'no healthy backend: drop');
  t.match(text, /iifname "inet0" ip daddr 20\.1\.2\.3 dnat to 10\.224\.0\.100/);
  t.match(text, /ip daddr 192\.168\.100\.0\/24 accept\n {4}oifname "inet0" ip saddr 10\.224\.0\.100 snat to 20\.1\.2\.3\n {4}oifname "inet0" ip saddr 10\.224\.0\.0\/16 snat to 198\.51\.100\.10/, 'on-premises un-NATed, then public IPs, then default outbound');
  t.same(desiredRoutes(cfg), [
    { dst: '10.224.0.200/32' },
    { dst: '10.224.0.100/32', via: '10.224.0.4' },
    { dst: '10.244.1.0/24', via: '10.224.0.6' },
    { dst: '0.0.0.0/0', via: '10.224.0.4', table: 0x10004 },
  ]);
  t.equal(backendRulePriority('10.224.0.4'), 104);
});

t.test('config validation', async (t) => {
  t.equal(RouterConfigSchema.parse({}).probeIntervalMs, 5_000, 'Azure\'s default probe interval');
  t.notOk(RouterConfigSchema.safeParse({ frontends: [{ ip: 'x', port: 1, probePort: 1, probePath: '/', backends: [] }] }).success);
});
