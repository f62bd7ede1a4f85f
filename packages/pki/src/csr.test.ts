import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instanceUidUri, parseAndVerifyCsr } from './csr.js';
import { issueLeaf } from './leaf.js';
import { children, readTlv } from './der.js';
import { pemDecode, pemEncode } from './encoding.js';
import { PkiError } from './errors.js';
import { CA_KINDS, DAY, HOUR, makeCa } from './testing/fixtures.js';
import { workdir, type Workdir } from './testing/openssl.js';

const UID = '0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';

let w: Workdir;
beforeAll(() => {
  w = workdir();
});
afterAll(() => w.remove());

/** Makes a CSR with `openssl req -new`, returning its PEM. */
function opensslCsr(name: string, newkey: string[], subject: string, addext: string[] = []): string {
  const args = [
    'req',
    '-new',
    ...newkey,
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-subj',
    subject,
    '-out',
    `${name}.csr`,
  ];
  for (const ext of addext) args.push('-addext', ext);
  const result = w.openssl(...args);
  if (result.status !== 0) throw new Error(result.output);
  return readFileSync(w.path(`${name}.csr`), 'utf8');
}

const EC_P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
const EC_P384 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'];

function expectPkiError(fn: () => unknown, code: string) {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(PkiError);
    expect((error as PkiError).code).toBe(code);
    return;
  }
  throw new Error(`expected PkiError ${code}`);
}

describe('N-18: parseAndVerifyCsr validates openssl-made requests', () => {
  it('N-21: reads an EC P-256 CSR with the instance_uid as a SAN URI', () => {
    const pem = opensslCsr('ec', EC_P256, '/CN=collector-1/O=Acme', [
      `subjectAltName=URI:${instanceUidUri(UID)}`,
    ]);
    const csr = parseAndVerifyCsr(pem);
    expect(csr.subject).toBe('CN=collector-1, O=Acme');
    expect(csr.keyAlgorithm).toEqual({ type: 'ec', curve: 'P-256' });
    expect(csr.signatureAlgorithmOid).toBe('1.2.840.10045.4.3.2');
    expect(csr.instanceUid).toBe(UID);
    expect(csr.requestedSans.uris).toEqual([`urn:opamp:instance-uid:${UID}`]);
    const publicKey = w.openssl('req', '-in', 'ec.csr', '-noout', '-pubkey').stdout;
    expect(csr.publicKeySpkiDer).toEqual(pemDecode(publicKey, 'PUBLIC KEY'));
  });

  it('N-21: reads an RSA CSR (DER too) with the instance_uid in the subject UID', () => {
    const pem = opensslCsr('rsa', ['-newkey', 'rsa:2048'], `/CN=collector-2/UID=${UID.toUpperCase()}`, [
      'subjectAltName=DNS:host.example,IP:10.1.2.3',
    ]);
    const csr = parseAndVerifyCsr(pemDecode(pem));
    expect(csr.keyAlgorithm).toEqual({ type: 'rsa', bits: 2048 });
    expect(csr.instanceUid).toBe(UID);
    expect(csr.requestedSans.dns).toEqual(['host.example']);
    expect(csr.requestedSans.ips).toEqual(['10.1.2.3']);
  });

  it('verifies an RSASSA-PSS signed CSR', () => {
    const pem = opensslCsr(
      'pss',
      ['-newkey', 'rsa:2048', '-sigopt', 'rsa_padding_mode:pss', '-sha384'],
      '/CN=pss',
    );
    const csr = parseAndVerifyCsr(pem);
    expect(csr.signatureAlgorithmOid).toBe('1.2.840.113549.1.1.10');
    const corrupted = Buffer.from(pemDecode(pem));
    corrupted[corrupted.length - 1] = corrupted[corrupted.length - 1]! ^ 0x01;
    expectPkiError(() => parseAndVerifyCsr(corrupted), 'bad_signature');
  });

  it('N-21: takes a CN that is exactly a UUID as the instance_uid, and nothing otherwise', () => {
    expect(parseAndVerifyCsr(opensslCsr('cn', EC_P384, `/CN=${UID}`)).instanceUid).toBe(UID);
    expect(parseAndVerifyCsr(opensslCsr('plain', EC_P384, '/CN=collector-3')).instanceUid).toBeUndefined();
  });

  it('N-21: rejects two different instance_uids and a malformed instance-uid URI', () => {
    const other = '0193a1b2-c3d4-7e5f-8a9b-000000000000';
    const conflicting = opensslCsr('conflict', EC_P256, `/CN=x/UID=${UID}`, [
      `subjectAltName=URI:${instanceUidUri(other)}`,
    ]);
    expectPkiError(() => parseAndVerifyCsr(conflicting), 'malformed');
    const broken = opensslCsr('broken', EC_P256, '/CN=x', ['subjectAltName=URI:urn:opamp:instance-uid:nope']);
    expectPkiError(() => parseAndVerifyCsr(broken), 'malformed');
  });

  it('rejects a CSR whose signature was corrupted', () => {
    for (const [name, newkey] of [
      ['bad-ec', EC_P256],
      ['bad-rsa', ['-newkey', 'rsa:2048']],
    ] as const) {
      const der = pemDecode(opensslCsr(name, [...newkey], '/CN=x'));
      const corrupted = Buffer.from(der);
      corrupted[corrupted.length - 3] = corrupted[corrupted.length - 3]! ^ 0xff;
      expectPkiError(() => parseAndVerifyCsr(corrupted), 'bad_signature');
      w.write(`${name}-corrupted.csr`, pemEncode(corrupted, 'CERTIFICATE REQUEST'));
      // openssl agrees that it does not verify.
      expect(w.openssl('req', '-in', `${name}-corrupted.csr`, '-noout', '-verify').output).not.toMatch(
        /verify OK/i,
      );
    }
  });

  it('rejects a CSR whose subject was altered after signing', () => {
    const der = pemDecode(opensslCsr('alter', EC_P256, '/CN=aaaa'));
    const altered = Buffer.from(der);
    altered[altered.indexOf(Buffer.from('aaaa'))] = 0x62;
    expectPkiError(() => parseAndVerifyCsr(altered), 'bad_signature');
  });

  it('rejects weak keys: RSA 1024 and curve P-521', () => {
    expectPkiError(
      () => parseAndVerifyCsr(opensslCsr('rsa1024', ['-newkey', 'rsa:1024'], '/CN=x')),
      'weak_key',
    );
    const p521 = opensslCsr('p521', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521'], '/CN=x');
    expectPkiError(() => parseAndVerifyCsr(p521), 'weak_key');
  });

  it('rejects SHA-1 signatures and non-CSR input', () => {
    const sha1 = opensslCsr('sha1', ['-newkey', 'rsa:2048', '-sha1'], '/CN=x');
    expectPkiError(() => parseAndVerifyCsr(sha1), 'unsupported_algorithm');
    expectPkiError(() => parseAndVerifyCsr('no pem here'), 'malformed');
    expectPkiError(() => parseAndVerifyCsr(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00])), 'malformed');
    expectPkiError(() => parseAndVerifyCsr(Buffer.alloc(70_000, 0x30)), 'malformed');
  });

  it('rejects structures that only resemble a request: a certificate, padded bit strings, extra elements', () => {
    const result = w.openssl(
      'req',
      '-x509',
      ...EC_P256,
      '-nodes',
      '-keyout',
      'cert.key',
      '-subj',
      '/CN=x',
      '-outform',
      'DER',
      '-out',
      'cert.der',
    );
    if (result.status !== 0) throw new Error(result.output);
    expectPkiError(() => parseAndVerifyCsr(readFileSync(w.path('cert.der'))), 'malformed');

    const der = pemDecode(opensslCsr('shape', EC_P256, '/CN=x'));
    expect(parseAndVerifyCsr(der).subject).toBe('CN=x');
    const [, , bits] = children(der, readTlv(der, 0));
    const padded = Buffer.from(der);
    padded[bits!.contentStart] = 1;
    expectPkiError(() => parseAndVerifyCsr(padded), 'malformed');

    // One more element inside the outer SEQUENCE (its length grows by the two bytes added).
    const outer = readTlv(der, 0);
    const body = Buffer.concat([der.subarray(outer.contentStart, outer.end), Buffer.from([0x05, 0x00])]);
    const header =
      body.length < 0x100 ? [0x30, 0x81, body.length] : [0x30, 0x82, body.length >> 8, body.length & 0xff];
    expectPkiError(() => parseAndVerifyCsr(Buffer.concat([Buffer.from(header), body])), 'malformed');
  });
});

describe.each(CA_KINDS)('N-19: a %s CA issues from verified CSRs', (kind) => {
  it('certificates that openssl verifies and that hold the CSR key', async () => {
    const now = new Date();
    const ca = await makeCa(kind, now);
    w.write(`${kind}-ca.pem`, ca.pem);
    for (const [name, newkey] of [
      [`${kind}-ec-leaf`, EC_P256],
      [`${kind}-rsa-leaf`, ['-newkey', 'rsa:2048']],
    ] as const) {
      const csr = parseAndVerifyCsr(opensslCsr(name, [...newkey], '/CN=collector'));
      const cert = await issueLeaf({
        issuer: { cert: ca.der, signer: ca.signer },
        subjectPublicKeySpkiDer: csr.publicKeySpkiDer,
        subject: csr.subject,
        notBefore: new Date(now.getTime() - HOUR),
        notAfter: new Date(now.getTime() + DAY),
        serial: 42n,
        eku: ['clientAuth'],
      });
      w.write(`${name}.pem`, pemEncode(cert, 'CERTIFICATE'));
      expect(w.openssl('verify', '-CAfile', `${kind}-ca.pem`, `${name}.pem`).output).toContain(
        `${name}.pem: OK`,
      );
      // The certificate's public key is the one whose private half openssl generated.
      const fromCert = w.openssl('x509', '-in', `${name}.pem`, '-noout', '-pubkey').stdout;
      const fromKey = w.openssl('pkey', '-in', `${name}.key`, '-pubout').stdout;
      expect(fromCert).toBe(fromKey);
    }
  });
});

describe('instanceUidUri', () => {
  it('normalises case and refuses non-UUIDs', () => {
    expect(instanceUidUri(UID.toUpperCase())).toBe(`urn:opamp:instance-uid:${UID}`);
    expect(() => instanceUidUri('abc')).toThrow(PkiError);
  });
});
