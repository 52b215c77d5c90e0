import t from 'tap';
import { TokenIssuer } from './auth.ts';

t.test('tokens verify only with the issuing key and until they expire', async (t) => {
  const issuer = new TokenIssuer(Buffer.alloc(32, 1), 60);
  const token = issuer.issue({ tid: 'x' });
  t.match(issuer.verify(token), { tid: 'x' });
  t.equal(new TokenIssuer(Buffer.alloc(32, 2)).verify(token), undefined, 'another key');
  t.equal(issuer.verify(`${token}x`), undefined, 'tampered');
  t.equal(issuer.verify('nope'), undefined);
  const expired = new TokenIssuer(Buffer.alloc(32, 1), -1).issue({ tid: 'x' });
  t.equal(issuer.verify(expired), undefined, 'expired');
});
