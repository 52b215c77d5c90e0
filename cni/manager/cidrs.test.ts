import t from 'tap';
import { aggregate } from './cidrs.ts';

t.test('aggregate drops contained ranges, merges siblings, keeps the rest', async (t) => {
  t.same(aggregate([]), []);
  t.same(aggregate(['10.244.1.0/24', '10.244.0.0/24']), ['10.244.0.0/23'], 'two sibling /24s');
  t.same(aggregate(['10.244.1.0/24', '10.244.2.0/24']), ['10.244.1.0/24', '10.244.2.0/24'], 'adjacent but not siblings');
  t.same(aggregate(Array.from({ length: 256 }, (_, i) => `10.244.${i}.0/24`)), ['10.244.0.0/16'], 'every node of a /16 cluster range');
  t.same(aggregate(['10.0.0.1/32', '10.0.0.0/24', '10.0.0.0/24']), ['10.0.0.0/24'], 'a /32 inside a /24, and a duplicate');
  t.same(aggregate(['10.0.0.7/24']), ['10.0.0.0/24'], 'host bits dropped');
  t.same(aggregate(['fd00::/64', '169.254.169.254/32', '10.1.0.0/16']), ['10.1.0.0/16', '169.254.169.254/32'], 'IPv6 ignored, sorted');
  t.same(aggregate(['0.0.0.0/1', '128.0.0.0/1']), ['0.0.0.0/0'], 'merges up to /0');
  t.same(aggregate(['10.0.0.0/25', '10.0.0.128/26', '10.0.0.192/26']), ['10.0.0.0/24'], 'merges in cascade');
});
