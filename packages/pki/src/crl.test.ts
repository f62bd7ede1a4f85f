import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCrl, crlPem } from './crl.js';
import { issueLeaf } from './leaf.js';
import { pemEncode, serialToHex } from './encoding.js';
import { isPkiError } from './errors.js';
import { keyObjectSigner } from './signer.js';
import { CA_KINDS, DAY, HOUR, ecKey, makeCa, spki, type TestCa } from './testing/fixtures.js';
import { workdir, type Workdir } from './testing/openssl.js';

describe.each(CA_KINDS)('CRL from a %s CA, judged by openssl', (kind) => {
  const now = new Date();
  const nextUpdate = new Date(now.getTime() + 15 * 60_000);
  const leafSerial = 0xdeadbeefcafen;
  let w: Workdir;
  let ca: TestCa;

  beforeAll(async () => {
    w = workdir();
    ca = await makeCa(kind, now);
    w.write('ca.pem', ca.pem);
    const leaf = await issueLeaf({
      issuer: { cert: ca.der, signer: ca.signer },
      subjectPublicKeySpkiDer: spki(ecKey()),
      subject: 'CN=agent',
      notBefore: new Date(now.getTime() - HOUR),
      notAfter: new Date(now.getTime() + DAY),
      serial: leafSerial,
      eku: ['clientAuth'],
      crlUrl: 'https://ampora.example/pki/crl.der',
    });
    w.write('leaf.pem', pemEncode(leaf, 'CERTIFICATE'));
  });
  afterAll(() => w.remove());

  const issuer = () => ({ cert: ca.der, signer: ca.signer });

  it('builds an empty CRL whose signature openssl verifies, and the leaf still passes', async () => {
    const der = await buildCrl({ issuer: issuer(), thisUpdate: now, nextUpdate, crlNumber: 1n, revoked: [] });
    w.write('empty.pem', crlPem(der));
    const check = w.openssl('crl', '-in', 'empty.pem', '-CAfile', 'ca.pem', '-noout');
    expect(check.output).toContain('verify OK');
    expect(w.openssl('crl', '-in', 'empty.pem', '-noout', '-text').output).toContain(
      'No Revoked Certificates',
    );
    const verify = w.openssl(
      'verify',
      '-crl_check',
      '-CRLfile',
      'empty.pem',
      '-CAfile',
      'ca.pem',
      'leaf.pem',
    );
    expect(verify.output).toContain('leaf.pem: OK');
  });

  it('lists revoked serials with reasons, CRL number and AKI; the leaf then fails', async () => {
    const crlNumber = (1n << 100n) + 7n;
    const der = await buildCrl({
      issuer: issuer(),
      thisUpdate: now,
      nextUpdate,
      crlNumber,
      revoked: [
        { serial: leafSerial, revokedAt: new Date(now.getTime() - 60_000), reason: 'keyCompromise' },
        { serial: 'ab:cd', revokedAt: now, reason: 'unspecified' },
        { serial: 0x80n, revokedAt: now, reason: 'cessationOfOperation' },
      ],
    });
    w.write('crl.pem', crlPem(der));
    w.write('crl.der', der);
    expect(w.openssl('crl', '-in', 'crl.pem', '-CAfile', 'ca.pem', '-noout').output).toContain('verify OK');
    expect(
      w.openssl('crl', '-inform', 'DER', '-in', 'crl.der', '-CAfile', 'ca.pem', '-noout').output,
    ).toContain('verify OK');
    const text = w.openssl('crl', '-in', 'crl.pem', '-noout', '-text').output;
    expect(text).toContain('Version 2 (0x1)');
    expect(text).toMatch(new RegExp(`CRL Number: \\s*(${crlNumber}|0x${crlNumber.toString(16)})`, 'i'));
    expect(text).toContain('Authority Key Identifier');
    expect(text.toUpperCase()).toContain(`SERIAL NUMBER: ${serialToHex(leafSerial).toUpperCase()}`);
    expect(text).toContain('Key Compromise');
    expect(text).toContain('Cessation Of Operation');
    expect(text).not.toContain('Unspecified');
    const verify = w.openssl('verify', '-crl_check', '-CRLfile', 'crl.pem', '-CAfile', 'ca.pem', 'leaf.pem');
    expect(verify.output).toContain('certificate revoked');
    expect(verify.status).not.toBe(0);
  });

  it('fails openssl verification when the CRL is altered after signing', async () => {
    const der = await buildCrl({ issuer: issuer(), thisUpdate: now, nextUpdate, crlNumber: 2n, revoked: [] });
    // Flip a byte inside the issuer name (well before the signature).
    const tampered = Buffer.from(der);
    const at = tampered.indexOf(Buffer.from('Ampora'));
    tampered[at] = tampered[at]! ^ 0x01;
    w.write('tampered.pem', crlPem(tampered));
    expect(w.openssl('crl', '-in', 'tampered.pem', '-CAfile', 'ca.pem', '-noout').output).not.toContain(
      'verify OK',
    );
  });

  it('refuses a signer without the CA key and an inverted update window', async () => {
    const foreign = { cert: ca.der, signer: keyObjectSigner(ecKey()) };
    await expect(
      buildCrl({ issuer: foreign, thisUpdate: now, nextUpdate, crlNumber: 3n, revoked: [] }),
    ).rejects.toSatisfy((e) => isPkiError(e, 'key_mismatch'));
    await expect(
      buildCrl({ issuer: issuer(), thisUpdate: nextUpdate, nextUpdate: now, crlNumber: 3n, revoked: [] }),
    ).rejects.toSatisfy((e) => isPkiError(e, 'invalid_argument'));
    await expect(
      buildCrl({ issuer: issuer(), thisUpdate: now, nextUpdate, crlNumber: -1n, revoked: [] }),
    ).rejects.toSatisfy((e) => isPkiError(e, 'invalid_argument'));
    await expect(
      buildCrl({
        issuer: issuer(),
        thisUpdate: now,
        nextUpdate,
        crlNumber: 4n,
        revoked: [{ serial: 'zz', revokedAt: now }],
      }),
    ).rejects.toSatisfy((e) => isPkiError(e, 'invalid_argument'));
  });
});

describe('crlPem', () => {
  it('uses the X509 CRL label', () => {
    const pem = crlPem(Buffer.from([0x30, 0x00]));
    expect(pem.startsWith('-----BEGIN X509 CRL-----\n')).toBe(true);
    expect(pem.trimEnd().endsWith('-----END X509 CRL-----')).toBe(true);
  });
});
