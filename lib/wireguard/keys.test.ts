import t from 'tap';
import { inspect } from 'node:util';
import { randomBytes } from 'node:crypto';
import { ExecRunner } from '../exec/runner.ts';
import { PrivateKey, assertValidKey, generatePrivateKey, isValidKey, publicKeyOf } from './keys.ts';

const runner = new ExecRunner();

async function wgPubkey(privateBase64: string): Promise<string> {
  const { stdout } = await runner.run(['wg', 'pubkey'], { input: privateBase64 + '\n' });
  return stdout.trim();
}

t.test('our keys give the same public key as wg pubkey', async (t) => {
  for (let i = 0; i < 5; i++) {
    const key = generatePrivateKey();
    const b64 = key.revealBase64();
    t.ok(isValidKey(b64));
    const raw = Buffer.from(b64, 'base64');
    t.equal(raw[0]! & 7, 0, 'clamped low bits');
    t.equal(raw[31]! & 0xc0, 0x40, 'clamped high bits');
    const expected = await wgPubkey(b64);
    t.equal(key.publicKey(), expected);
    t.equal(publicKeyOf(key), expected);
    t.equal(publicKeyOf(b64), expected);
  }
});

t.test('keys from wg genkey give the same public key as wg pubkey', async (t) => {
  for (let i = 0; i < 5; i++) {
    const { stdout } = await runner.run(['wg', 'genkey']);
    const b64 = stdout.trim();
    t.equal(publicKeyOf(b64), await wgPubkey(b64));
    t.equal(PrivateKey.fromBase64(b64).revealBase64(), b64, 'round-trips');
  }
});

t.test('unclamped keys: both sides clamp, so they still agree', async (t) => {
  const b64 = Buffer.from(randomBytes(32).map((b, i) => (i === 0 ? b | 7 : i === 31 ? b | 0x80 : b))).toString('base64');
  t.equal(publicKeyOf(b64), await wgPubkey(b64));
});

t.test('isValidKey accepts exactly what wg accepts', async (t) => {
  const good = generatePrivateKey().publicKey();
  t.ok(isValidKey(good));
  const bad = [
    '',
    good.slice(0, -1),
    good + '=',
    good.slice(0, 42) + 'B=', // non-zero padding bits
    good.replace(/=$/, 'A'),
    Buffer.alloc(31).toString('base64'),
    Buffer.alloc(33).toString('base64'),
    '-'.repeat(43) + '=',
    ' ' + good.slice(1),
    42,
    undefined,
  ];
  for (const b of bad) t.notOk(isValidKey(b), `rejects ${JSON.stringify(b)}`);
  for (const b of bad.filter((x) => typeof x === 'string')) {
    const { stdout } = await runner.run(['sh', '-c', 'printf %s "$1" | wg pubkey || true', 'sh', b]);
    t.equal(stdout, '', `wg also rejects ${JSON.stringify(b)}`);
  }
});

t.test('invalid keys are rejected with a clear error that does not echo the input', async (t) => {
  const secretish = 'not-a-key-but-maybe-secret';
  for (const fn of [() => PrivateKey.fromBase64(secretish), () => publicKeyOf(secretish), () => assertValidKey(secretish, 'peer public key')]) {
    let err: unknown;
    try {
      fn();
    } catch (e) {
      err = e;
    }
    t.match(err, { code: 'WG_KEY_INVALID', message: /invalid WireGuard .*key: want base64 of exactly 32 bytes/ });
    t.notMatch((err as Error).message, secretish);
  }
  t.doesNotThrow(() => assertValidKey(generatePrivateKey().publicKey()));
});

t.test('a PrivateKey never shows its bytes', async (t) => {
  const key = generatePrivateKey();
  const b64 = key.revealBase64();
  const views = [
    JSON.stringify(key),
    JSON.stringify({ nested: { key } }),
    inspect(key),
    inspect({ key }, { showHidden: true, depth: 5 }),
    String(key),
    `${key}`,
    'k=' + key,
    Object.keys(key).join(','),
    JSON.stringify(structuredClone(key)),
  ];
  for (const v of views) {
    t.notMatch(v, b64, v);
    t.notMatch(v, Buffer.from(b64, 'base64').toString('hex'));
  }
  t.equal(JSON.stringify(key), '"[redacted]"');
  t.equal(String(key), '[redacted]');
  t.equal(inspect(key), 'PrivateKey [redacted]');
});
