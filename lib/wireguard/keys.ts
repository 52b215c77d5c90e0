import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { KegError } from '../errors.ts';

/** Length of a WireGuard (Curve25519) key in bytes. */
export const KEY_BYTES = 32;

// RFC 8410 PKCS#8 header for an X25519 private key; the raw 32 bytes follow it.
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

// 32 bytes are 43 base64 characters plus one '='. The last character carries
// only 4 significant bits, so wg (which checks the padding bits are zero)
// accepts only these 16 letters there; we accept exactly what wg accepts.
const KEY_BASE64 = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

const REDACTED = '[redacted]';

/** True when `s` is a key as `wg` prints and accepts it: base64 of exactly 32 bytes. */
export function isValidKey(s: unknown): s is string {
  return typeof s === 'string' && KEY_BASE64.test(s);
}

/** Throws WG_KEY_INVALID unless `s` is a valid key. `what` names it in the message, never its value. */
export function assertValidKey(s: unknown, what = 'key'): asserts s is string {
  if (!isValidKey(s)) {
    throw new KegError('WG_KEY_INVALID', `invalid WireGuard ${what}: want base64 of exactly ${KEY_BYTES} bytes (44 characters ending in '=')`);
  }
}

/**
 * A WireGuard private key that cannot leak by accident: string conversion,
 * JSON and util.inspect all print '[redacted]', and the bytes live in a private
 * field that no enumeration or structured clone reaches. Code that really
 * needs the key (a Secret, `wg` on stdin) calls {@link revealBase64}, which is
 * easy to find in review.
 */
export class PrivateKey {
  readonly #bytes: Buffer;

  private constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }

  /** A fresh key, clamped like `wg genkey`. */
  static generate(): PrivateKey {
    const k = randomBytes(KEY_BYTES);
    // Curve25519 clamping, as wg does, so our keys are byte-identical in form.
    k.writeUInt8(k.readUInt8(0) & 248, 0);
    k.writeUInt8((k.readUInt8(31) & 127) | 64, 31);
    return new PrivateKey(k);
  }

  /** Parses a base64 key (e.g. from a Secret). The error never contains the input. */
  static fromBase64(s: string): PrivateKey {
    assertValidKey(s, 'private key');
    return new PrivateKey(Buffer.from(s, 'base64'));
  }

  /** The key as `wg` wants it. Only for writing it where it must go. */
  revealBase64(): string {
    return this.#bytes.toString('base64');
  }

  /** The matching public key, as `wg pubkey` prints it. */
  publicKey(): string {
    return publicKeyFromBytes(this.#bytes);
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `PrivateKey ${REDACTED}`;
  }
}

/** A new private key; see {@link PrivateKey.generate}. */
export function generatePrivateKey(): PrivateKey {
  return PrivateKey.generate();
}

/** The public key of a private key given as a PrivateKey or as base64 (what `wg pubkey` does). */
export function publicKeyOf(privateKey: PrivateKey | string): string {
  if (privateKey instanceof PrivateKey) return privateKey.publicKey();
  assertValidKey(privateKey, 'private key');
  return publicKeyFromBytes(Buffer.from(privateKey, 'base64'));
}

function publicKeyFromBytes(raw: Buffer): string {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, raw]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  // The SPKI DER ends with the raw 32-byte public key (RFC 8410).
  return spki.subarray(spki.length - KEY_BYTES).toString('base64');
}
