import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { base32Decode, base32Encode } from './base32.js';
import {
  TokenFormatError,
  constantTimeEqualHex,
  generateSecret,
  generateToken,
  hashToken,
  parseToken,
  verifySecret,
} from './tokens.js';

function problemOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(TokenFormatError);
    return (error as TokenFormatError).problem;
  }
}

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';

describe('base32', () => {
  it('encodes the RFC 4648 test vectors in lowercase without padding', () => {
    const vectors: Array<[string, string]> = [
      ['', ''],
      ['f', 'my'],
      ['fo', 'mzxq'],
      ['foo', 'mzxw6'],
      ['foob', 'mzxw6yq'],
      ['fooba', 'mzxw6ytb'],
      ['foobar', 'mzxw6ytboi'],
    ];
    for (const [plain, encoded] of vectors) {
      expect(base32Encode(Buffer.from(plain))).toBe(encoded);
      expect(Buffer.from(base32Decode(encoded)!).toString()).toBe(plain);
    }
  });

  it('refuses foreign characters and non-canonical trailing bits', () => {
    expect(base32Decode('MZXW6')).toBeUndefined();
    expect(base32Decode('mzxw1')).toBeUndefined();
    expect(base32Decode('mz')).toBeUndefined(); // 'z' leaves non-zero trailing bits after "f"
  });
});

describe('tokens', () => {
  it('generates tokens of the documented shape and parses them back', () => {
    const bootstrap = generateToken('bootstrap');
    const pat = generateToken('pat');
    expect(bootstrap).toMatch(/^amp-bs\.[a-z2-7]{52}\.[0-9a-f]{8}$/);
    expect(pat).toMatch(/^amp-pat\.[a-z2-7]{52}\.[0-9a-f]{8}$/);
    expect(parseToken(bootstrap)).toMatchObject({ kind: 'bootstrap', token: bootstrap });
    expect(parseToken(pat, 'pat').secret).toHaveLength(32);
    expect(generateToken('pat')).not.toBe(pat);
  });

  it('uses the injected randomness and a CRC-32 over prefix and body', () => {
    const token = generateToken('bootstrap', (n) => new Uint8Array(n));
    expect(token).toBe(`amp-bs.${'a'.repeat(52)}.${token.slice(-8)}`);
    expect(Buffer.from(parseToken(token).secret)).toEqual(Buffer.alloc(32));
  });

  it('reports every single-character change as a bad checksum or bad encoding', () => {
    const token = generateToken('pat');
    const bodyStart = 'amp-pat.'.length;
    for (let i = bodyStart; i < token.length; i++) {
      if (token[i] === '.') continue;
      const alphabet = i > token.length - 9 ? '0123456789abcdef' : B32;
      const replacement = alphabet.split('').find((c) => c !== token[i])!;
      const corrupted = token.slice(0, i) + replacement + token.slice(i + 1);
      const lastBodyChar = i === bodyStart + 51;
      const expected = lastBodyChar ? ['bad-checksum', 'bad-encoding'] : ['bad-checksum'];
      expect(expected).toContain(problemOf(() => parseToken(corrupted)));
    }
  });

  it('names a changed body character a bad checksum', () => {
    const token = generateToken('bootstrap', (n) => new Uint8Array(n).fill(7));
    const i = 'amp-bs.'.length + 10;
    const corrupted = token.slice(0, i) + (token[i] === 'b' ? 'c' : 'b') + token.slice(i + 1);
    expect(problemOf(() => parseToken(corrupted))).toBe('bad-checksum');
  });

  it('rejects wrong prefixes, wrong kinds and wrong lengths', () => {
    const token = generateToken('bootstrap');
    expect(problemOf(() => parseToken(token, 'pat'))).toBe('wrong-prefix');
    expect(problemOf(() => parseToken(token.replace('amp-bs', 'amp-xx')))).toBe('wrong-prefix');
    expect(problemOf(() => parseToken('Bearer ' + token))).toBe('wrong-prefix');
    expect(problemOf(() => parseToken(token.slice(0, -1)))).toBe('bad-length');
    expect(problemOf(() => parseToken(token.replace('.', '.a')))).toBe('bad-length');
    expect(problemOf(() => parseToken(`${token}.x`))).toBe('bad-length');
    expect(problemOf(() => parseToken('amp-bs'))).toBe('bad-length');
    expect(problemOf(() => parseToken(token.toUpperCase()))).toBe('wrong-prefix');
  });

  it('never echoes the token in the error', () => {
    const token = generateToken('pat');
    const corrupted = token.slice(0, -1) + (token.endsWith('0') ? '1' : '0');
    try {
      parseToken(corrupted);
      expect.unreachable();
    } catch (error) {
      expect(String((error as Error).message)).not.toContain(token.slice(8, 60));
    }
  });

  it('hashes the whole token with SHA-256', () => {
    const token = generateToken('bootstrap');
    expect(hashToken(token)).toBe(createHash('sha256').update(token).digest('hex'));
    expect(hashToken(token)).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('constantTimeEqualHex', () => {
  const a = hashToken('a');
  const b = hashToken('b');

  it('tells equal from different digests', () => {
    expect(constantTimeEqualHex(a, a)).toBe(true);
    expect(constantTimeEqualHex(a, a.toUpperCase())).toBe(true);
    expect(constantTimeEqualHex(a, b)).toBe(false);
  });

  it('returns false instead of throwing on different lengths or non-hex input', () => {
    expect(constantTimeEqualHex(a, a.slice(0, 62))).toBe(false);
    expect(constantTimeEqualHex(a, `${a}00`)).toBe(false);
    expect(constantTimeEqualHex(a, 'zz'.repeat(32))).toBe(false);
    expect(constantTimeEqualHex('', '')).toBe(false);
    expect(constantTimeEqualHex('abc', 'abc')).toBe(false);
  });
});

describe('secrets', () => {
  it('verifies a secret against its hash and nothing else', () => {
    const secret = generateSecret();
    expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
    const stored = hashToken(secret);
    expect(verifySecret(secret, stored)).toBe(true);
    expect(verifySecret(`${secret}x`, stored)).toBe(false);
    expect(verifySecret(secret, hashToken(generateSecret()))).toBe(false);
    expect(verifySecret(secret, 'not-a-hash')).toBe(false);
  });
});
