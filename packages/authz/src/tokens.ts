import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { base32Decode, base32Encode } from './base32.js';

/**
 * Opaque bearer tokens: `amp-bs.<body>.<crc>` for bootstrap tokens, `amp-pat.<body>.<crc>` for
 * personal access tokens.
 * - body: 32 random bytes in lowercase unpadded base32 (52 characters);
 * - crc: CRC-32 of the ASCII text `<prefix>.<body>`, as 8 lowercase hex digits.
 * The checksum is not a secret and adds no strength; it lets a CLI, a secret scanner or the server
 * reject a mistyped or truncated token offline, before any database lookup.
 */
export type TokenKind = 'bootstrap' | 'pat';

export const TOKEN_PREFIXES: Readonly<Record<TokenKind, string>> = { bootstrap: 'amp-bs', pat: 'amp-pat' };

const BODY_BYTES = 32;
const BODY_LENGTH = 52;
const CRC_LENGTH = 8;

export type TokenFormatProblem = 'wrong-prefix' | 'bad-length' | 'bad-encoding' | 'bad-checksum';

export class TokenFormatError extends Error {
  override readonly name = 'TokenFormatError';
  constructor(readonly problem: TokenFormatProblem) {
    // The message never echoes the token: it may be a real secret with a typo in it.
    super(`token is malformed: ${problem}`);
  }
}

export interface ParsedToken {
  readonly kind: TokenKind;
  /** The whole token, as given. */
  readonly token: string;
  /** The 32 random bytes. */
  readonly secret: Uint8Array;
}

function checksum(prefixAndBody: string): string {
  return crc32(Buffer.from(prefixAndBody, 'ascii')).toString(16).padStart(CRC_LENGTH, '0');
}

/** A fresh token of the given kind. Show it once; store only {@link hashToken} of it. */
export function generateToken(kind: TokenKind, random: (size: number) => Uint8Array = randomBytes): string {
  const head = `${TOKEN_PREFIXES[kind]}.${base32Encode(random(BODY_BYTES))}`;
  return `${head}.${checksum(head)}`;
}

/**
 * Checks a token's shape and checksum. Throws {@link TokenFormatError}; when `expected` is given, a
 * token of the other kind is a `wrong-prefix`.
 */
export function parseToken(token: string, expected?: TokenKind): ParsedToken {
  const parts = token.split('.');
  const kind = (Object.keys(TOKEN_PREFIXES) as TokenKind[]).find((k) => TOKEN_PREFIXES[k] === parts[0]);
  if (!kind || (expected !== undefined && kind !== expected)) throw new TokenFormatError('wrong-prefix');
  if (parts.length !== 3) throw new TokenFormatError('bad-length');
  const [prefix, body, crc] = parts as [string, string, string];
  if (body.length !== BODY_LENGTH || crc.length !== CRC_LENGTH) throw new TokenFormatError('bad-length');
  if (!/^[0-9a-f]{8}$/.test(crc)) throw new TokenFormatError('bad-encoding');
  const secret = base32Decode(body);
  if (!secret || secret.length !== BODY_BYTES) throw new TokenFormatError('bad-encoding');
  if (checksum(`${prefix}.${body}`) !== crc) throw new TokenFormatError('bad-checksum');
  return { kind, token, secret };
}

/**
 * SHA-256 of the whole token, in hex: the only form a token, or a secret we generated (token-pool
 * admin secrets, federation peer secrets), is stored in. A slow password hash (scrypt, argon2)
 * protects low-entropy human passwords against guessing; a token or secret carries 256 random
 * bits and cannot be guessed, so a single SHA-256 is enough and keeps verification cheap
 * on a hot path.
 */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

const HEX = /^(?:[0-9a-f]{2})*$/i;

/**
 * Compares two hex digests in constant time. Digests of different lengths (or that are not hex)
 * are unequal; the comparison still runs over a buffer of the expected length, so the time taken
 * does not depend on where the inputs differ.
 */
export function constantTimeEqualHex(a: string, b: string): boolean {
  const left = Buffer.from(HEX.test(a) ? a : '', 'hex');
  const right = Buffer.from(HEX.test(b) ? b : '', 'hex');
  const sameShape = HEX.test(a) && HEX.test(b) && left.length === right.length && left.length > 0;
  const equal = timingSafeEqual(left, sameShape ? right : left);
  return sameShape && equal;
}

/** Checks a presented secret against a stored {@link hashToken} digest, in constant time. */
export function verifySecret(secret: string, storedHash: string): boolean {
  return constantTimeEqualHex(hashToken(secret), storedHash);
}

/** A fresh 32-byte secret, base64url-encoded, for token pools and federation peers. */
export function generateSecret(random: (size: number) => Uint8Array = randomBytes): string {
  return Buffer.from(random(32)).toString('base64url');
}
