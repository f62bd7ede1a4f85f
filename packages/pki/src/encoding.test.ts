import { describe, expect, it } from 'vitest';
import {
  fingerprintSha256,
  pemDecode,
  pemDecodeAll,
  pemEncode,
  randomSerial,
  serialFromHex,
  serialToHex,
  trustBundlePem,
} from './encoding.js';
import { integer, integerContent, integerFromContent } from './der.js';
import { PkiError } from './errors.js';
import { makeCa } from './testing/fixtures.js';
import { workdir } from './testing/openssl.js';

describe('serials', () => {
  it('round-trips between BigInt and hex, accepting openssl colon form', () => {
    expect(serialToHex(0n)).toBe('00');
    expect(serialToHex(0xabcn)).toBe('0abc');
    expect(serialFromHex('0x0ABC')).toBe(0xabcn);
    expect(serialFromHex('7F:FF:00')).toBe(0x7fff00n);
    const big = (1n << 158n) + 12345n;
    expect(serialFromHex(serialToHex(big))).toBe(big);
  });

  it('refuses non-hex and negative input', () => {
    expect(() => serialFromHex('xyz')).toThrow(PkiError);
    expect(() => serialFromHex('')).toThrow(PkiError);
    expect(() => serialToHex(-1n)).toThrow(PkiError);
  });

  it('randomSerial is positive, under 2^127, and uses the injected source', () => {
    expect(randomSerial(() => Buffer.alloc(16, 0xff))).toBe((1n << 127n) - 1n);
    for (let i = 0; i < 200; i++) {
      const serial = randomSerial();
      expect(serial > 0n && serial < 1n << 127n).toBe(true);
    }
    // An all-zero draw is not a serial; the next draw is taken.
    const draws = [Buffer.alloc(16), Buffer.from('00000000000000000000000000000001', 'hex')];
    expect(randomSerial(() => draws.shift()!)).toBe(1n);
  });

  it('encodes DER INTEGERs minimally in two’s complement', () => {
    expect(integerContent(0x80n)).toEqual(Buffer.from([0x00, 0x80]));
    expect(integerContent(0x7fn)).toEqual(Buffer.from([0x7f]));
    expect(integerContent(-1n)).toEqual(Buffer.from([0xff]));
    expect(integerContent(-129n)).toEqual(Buffer.from([0xff, 0x7f]));
    expect(integerFromContent(Buffer.from([0xff, 0x7f]))).toBe(-129n);
    expect(integer(256n)).toEqual(Buffer.from([0x02, 0x02, 0x01, 0x00]));
  });
});

describe('PEM', () => {
  it('wraps at 64 columns and decodes back, by label', () => {
    const der = Buffer.alloc(100, 7);
    const pem = pemEncode(der, 'CERTIFICATE');
    expect(pem.split('\n')[1]).toHaveLength(64);
    expect(pemDecode(pem)).toEqual(der);
    expect(pemDecode(`junk\n${pemEncode(Buffer.from([1]), 'X')}${pem}`, 'CERTIFICATE')).toEqual(der);
    expect(() => pemDecode(pem, 'X509 CRL')).toThrow(PkiError);
    expect(() => pemDecode('-----BEGIN A-----\n!!!\n-----END A-----')).toThrow(PkiError);
  });

  it('builds a trust bundle openssl reads as two certificates', async () => {
    const [a, b] = await Promise.all([makeCa('ec-p256'), makeCa('ec-p256')]);
    const bundle = trustBundlePem([a!.der, b!.pem]);
    expect(pemDecodeAll(bundle).map((block) => block.der)).toEqual([a!.der, b!.der]);
    expect(trustBundlePem([a!.der, b!.pem, a!.pem])).toBe(bundle);
    const w = workdir();
    try {
      w.write('bundle.pem', bundle);
      const out = w.openssl('crl2pkcs7', '-nocrl', '-certfile', 'bundle.pem');
      expect(out.status).toBe(0);
      w.write('p7.pem', out.stdout);
      const listed = w.openssl('pkcs7', '-in', 'p7.pem', '-print_certs', '-noout').stdout;
      expect(listed.match(/subject=/g)).toHaveLength(2);
    } finally {
      w.remove();
    }
  });

  it('fingerprintSha256 matches openssl', async () => {
    const ca = await makeCa('ec-p256');
    const w = workdir();
    try {
      w.write('ca.pem', ca.pem);
      const printed = w.openssl('x509', '-in', 'ca.pem', '-noout', '-fingerprint', '-sha256').stdout;
      expect(fingerprintSha256(ca.der)).toBe(printed.split('=')[1]!.trim().replaceAll(':', '').toLowerCase());
      expect(fingerprintSha256(ca.der)).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      w.remove();
    }
  });
});
