import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignatureAlgorithm } from './algorithms.js';
import { createCaCertificate } from './ca-certificate.js';
import { buildCrl, crlPem } from './crl.js';
import { pemEncode } from './encoding.js';
import { PkiError } from './errors.js';
import { keyObjectSigner } from './signer.js';
import { DAY, HOUR, ecKey, rsaKey } from './testing/fixtures.js';
import { workdir, type Workdir } from './testing/openssl.js';

let w: Workdir;
beforeAll(() => {
  w = workdir();
});
afterAll(() => w.remove());

describe('keyObjectSigner', () => {
  it.each([
    ['ES256', () => ecKey('P-256'), 'ecdsa-with-SHA256'],
    ['ES384', () => ecKey('P-384'), 'ecdsa-with-SHA384'],
    ['RS256', () => rsaKey(2048), 'sha256WithRSAEncryption'],
    ['RS384', () => rsaKey(2048), 'sha384WithRSAEncryption'],
    ['RS512', () => rsaKey(2048), 'sha512WithRSAEncryption'],
    ['PS256', () => rsaKey(2048), 'rsassaPss'],
    ['PS384', () => rsaKey(2048), 'rsassaPss'],
    ['EdDSA', () => generateKeyPairSync('ed25519').privateKey, 'ED25519'],
  ] as const)(
    '%s signs a CA certificate and CRL that openssl verifies',
    async (algorithm, key, opensslName) => {
      const signer = keyObjectSigner(key(), { algorithm: algorithm as SignatureAlgorithm });
      expect(signer.algorithm).toBe(algorithm);
      const now = Date.now();
      const ca = await createCaCertificate({
        signer,
        subject: `CN=${algorithm} CA`,
        notBefore: new Date(now - HOUR),
        notAfter: new Date(now + DAY),
        pathLen: 0,
      });
      w.write(`${algorithm}.pem`, pemEncode(ca, 'CERTIFICATE'));
      expect(w.openssl('verify', '-CAfile', `${algorithm}.pem`, `${algorithm}.pem`).output).toContain(': OK');
      const text = w.openssl('x509', '-in', `${algorithm}.pem`, '-noout', '-text').output;
      expect(text).toContain(`Signature Algorithm: ${opensslName}`);
      expect(text).toMatch(/CA:TRUE, pathlen:0/);
      const crl = await buildCrl({
        issuer: { cert: ca, signer },
        thisUpdate: new Date(now),
        nextUpdate: new Date(now + HOUR),
        crlNumber: 1n,
        revoked: [],
      });
      w.write(`${algorithm}.crl`, crlPem(crl));
      expect(
        w.openssl('crl', '-in', `${algorithm}.crl`, '-CAfile', `${algorithm}.pem`, '-noout').output,
      ).toContain('verify OK');
    },
  );

  it('picks the algorithm from the key when none is given', () => {
    expect(keyObjectSigner(ecKey('P-256')).algorithm).toBe('ES256');
    expect(keyObjectSigner(ecKey('P-384')).algorithm).toBe('ES384');
    expect(keyObjectSigner(rsaKey(2048)).algorithm).toBe('RS256');
  });

  it('refuses algorithms that do not fit the key, public keys and unsupported curves', () => {
    expect(() => keyObjectSigner(ecKey('P-256'), { algorithm: 'ES384' })).toThrow(PkiError);
    expect(() => keyObjectSigner(ecKey('P-256'), { algorithm: 'RS256' })).toThrow(PkiError);
    expect(() => keyObjectSigner(rsaKey(2048), { algorithm: 'ES256' })).toThrow(PkiError);
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(() => keyObjectSigner(pair.publicKey)).toThrow(PkiError);
    expect(() => keyObjectSigner(ecKey('P-521'))).toThrow(PkiError);
  });
});
