import t from 'tap';
import { fnv64a, nicPublicIpName, uuidV3, vmPoolUniqueId } from './vm-pool-names.ts';

t.test('uuidV3 matches RFC 4122 and Go uuid.NewMD5', async (t) => {
  // RFC 4122 appendix / Go's uuid tests: NewMD5(NameSpaceDNS, "python.org").
  t.equal(uuidV3('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'python.org'), '6fa459ea-ee8a-3ca4-894e-db77e160355e');
  t.match(vmPoolUniqueId('gwpool'), /^[0-9a-f]{8}-[0-9a-f]{4}-3[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.not(vmPoolUniqueId('gwpool'), vmPoolUniqueId('GWPool'), 'case matters, as in Go');
});

t.test('fnv64a matches the reference vectors', async (t) => {
  t.equal(fnv64a(''), 'cbf29ce484222325');
  t.equal(fnv64a('a'), 'af63dc4c8601ec8c');
  t.equal(fnv64a('foobar'), '85944171f73967e8');
  t.equal(nicPublicIpName('my-prefix', 'foobar'), 'my-prefix-85944171f73967e8');
});
