import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOcspResponse, ocspErrorResponse } from './ocsp-response.js';
import { parseOcspRequest } from './ocsp-request.js';
import { certIdFor, matchesIssuer } from './ocsp-cert-id.js';
import { issueLeaf, issueOcspResponderCert } from './leaf.js';
import { pemEncode, serialToHex } from './encoding.js';
import { keyObjectSigner } from './signer.js';
import { isPkiError } from './errors.js';
import { CA_KINDS, DAY, HOUR, ecKey, makeCa, spki, type TestCa } from './testing/fixtures.js';
import { workdir, type Workdir } from './testing/openssl.js';
import { readFileSync } from 'node:fs';

describe.each(CA_KINDS)('OCSP with a %s CA, judged by openssl', (kind) => {
  const now = new Date();
  let w: Workdir;
  let ca: TestCa;
  let other: TestCa;
  let leafDer: Buffer;
  let responder: { cert: Buffer; signer: ReturnType<typeof keyObjectSigner> };
  const leafSerial = 0x0a11cen;

  beforeAll(async () => {
    w = workdir();
    ca = await makeCa(kind, now);
    other = await makeCa(kind, now, 'CN=Unrelated CA');
    w.write('ca.pem', ca.pem);
    leafDer = await issueLeaf({
      issuer: { cert: ca.der, signer: ca.signer },
      subjectPublicKeySpkiDer: spki(ecKey()),
      subject: 'CN=agent',
      notBefore: new Date(now.getTime() - HOUR),
      notAfter: new Date(now.getTime() + DAY),
      serial: leafSerial,
      eku: ['clientAuth'],
      ocspUrl: 'http://127.0.0.1:1/pki/ocsp',
    });
    w.write('leaf.pem', pemEncode(leafDer, 'CERTIFICATE'));
    const responderKey = ecKey();
    const responderCert = await issueOcspResponderCert({
      issuer: { cert: ca.der, signer: ca.signer },
      subjectPublicKeySpkiDer: spki(responderKey),
      subject: 'CN=Ampora OCSP Responder',
      notBefore: new Date(now.getTime() - HOUR),
      notAfter: new Date(now.getTime() + 90 * DAY),
      serial: 77n,
    });
    responder = { cert: responderCert, signer: keyObjectSigner(responderKey) };
    w.write('responder.pem', pemEncode(responderCert, 'CERTIFICATE'));
    // One SHA-1 request with a nonce (openssl's default), one SHA-256 without.
    expect(w.openssl('ocsp', '-issuer', 'ca.pem', '-cert', 'leaf.pem', '-reqout', 'req.der').status).toBe(0);
    expect(
      w.openssl(
        'ocsp',
        '-sha256',
        '-issuer',
        'ca.pem',
        '-cert',
        'leaf.pem',
        '-no_nonce',
        '-reqout',
        'req256.der',
      ).status,
    ).toBe(0);
  });
  afterAll(() => w.remove());

  /**
   * Two openssl runs. With `-reqin` alone openssl keeps the request as read, so it
   * compares that request's nonce with the response's and checks the signature.
   * It prints per-certificate status only when given `-cert`, and then it builds
   * its own request, so status is read in a second run.
   */
  function verifyResponse(respFile: string, reqFile = 'req.der', digest = '-sha1') {
    const trust = ['-VAfile', 'responder.pem', '-CAfile', 'ca.pem'];
    const signature = w.openssl('ocsp', '-respin', respFile, '-reqin', reqFile, '-no_nonce', ...trust);
    const status = w.openssl(
      'ocsp',
      '-respin',
      respFile,
      '-no_nonce',
      digest,
      '-issuer',
      'ca.pem',
      '-cert',
      'leaf.pem',
      ...trust,
    );
    return {
      output: `${signature.output}${status.output}`,
      signature: signature.output,
      status: status.output,
    };
  }

  it('reads an openssl request: CertID fields, SHA-1 issuer match and nonce', () => {
    const parsed = parseOcspRequest(readFileSync(w.path('req.der')));
    expect(parsed.requests).toHaveLength(1);
    const [certId] = parsed.requests;
    expect(certId!.hashAlgorithm).toBe('sha1');
    expect(certId!.serial).toBe(leafSerial);
    expect(certId!.issuerNameHash).toHaveLength(20);
    expect(matchesIssuer(certId!, ca.der)).toBe(true);
    expect(matchesIssuer(certId!, other.der)).toBe(false);
    expect(certIdFor(ca.der, leafSerial)).toEqual(certId);
    // openssl sends a 16-byte nonce wrapped in an OCTET STRING (RFC 8954).
    expect(parsed.nonce).toBeDefined();
    expect(parsed.nonce!.subarray(0, 2)).toEqual(Buffer.from([0x04, 0x10]));
  });

  it('reads a SHA-256 CertID and matches it against the issuer', () => {
    const parsed = parseOcspRequest(readFileSync(w.path('req256.der')));
    expect(parsed.nonce).toBeUndefined();
    const [certId] = parsed.requests;
    expect(certId!.hashAlgorithm).toBe('sha256');
    expect(certId!.issuerKeyHash).toHaveLength(32);
    expect(matchesIssuer(certId!, ca.der)).toBe(true);
    expect(matchesIssuer(certId!, other.der)).toBe(false);
  });

  it('signs a good response that openssl verifies, echoing the nonce', async () => {
    const request = parseOcspRequest(readFileSync(w.path('req.der')));
    const der = await buildOcspResponse({
      responder,
      issuerCert: ca.der,
      responses: [
        {
          certId: request.requests[0]!,
          status: 'good',
          thisUpdate: now,
          nextUpdate: new Date(now.getTime() + HOUR),
        },
      ],
      nonce: request.nonce!,
      producedAt: now,
    });
    w.write('good.der', der);
    const result = verifyResponse('good.der');
    expect(result.signature).toContain('Response verify OK');
    expect(result.signature).not.toMatch(/nonce/i);
    expect(result.status).toContain('Response verify OK');
    expect(result.status).toMatch(/leaf\.pem: good/);
  });

  it('signs a revoked response with time and reason, for a SHA-256 CertID', async () => {
    const request = parseOcspRequest(readFileSync(w.path('req256.der')));
    const revokedAt = new Date(now.getTime() - 10 * 60_000);
    const der = await buildOcspResponse({
      responder,
      issuerCert: ca.der,
      responses: [
        {
          certId: request.requests[0]!,
          status: 'revoked',
          revokedAt,
          reason: 'keyCompromise',
          thisUpdate: now,
          nextUpdate: new Date(now.getTime() + HOUR),
        },
      ],
      producedAt: now,
    });
    w.write('revoked.der', der);
    const result = verifyResponse('revoked.der', 'req256.der', '-sha256');
    expect(result.output).toContain('Response verify OK');
    expect(result.output).toMatch(/leaf\.pem: revoked/);
    expect(result.output).toContain('Reason: keyCompromise');
  });

  it('fails openssl nonce check when the echoed nonce is not the request nonce', async () => {
    const request = parseOcspRequest(readFileSync(w.path('req.der')));
    const der = await buildOcspResponse({
      responder,
      issuerCert: ca.der,
      responses: [{ certId: request.requests[0]!, status: 'good', thisUpdate: now }],
      nonce: Buffer.concat([Buffer.from([0x04, 0x10]), Buffer.alloc(16, 7)]),
      producedAt: now,
    });
    w.write('wrong-nonce.der', der);
    expect(verifyResponse('wrong-nonce.der').signature).toContain('Nonce Verify error');
  });

  it('answers unknown, and openssl notices a missing nonce', async () => {
    const request = parseOcspRequest(readFileSync(w.path('req.der')));
    const der = await buildOcspResponse({
      responder,
      issuerCert: ca.der,
      responses: [{ certId: request.requests[0]!, status: 'unknown', thisUpdate: now }],
      producedAt: now,
    });
    w.write('unknown.der', der);
    const result = verifyResponse('unknown.der');
    expect(result.signature).toContain('Response verify OK');
    expect(result.signature).toMatch(/WARNING: no nonce in response/);
    expect(result.status).toMatch(/leaf\.pem: unknown/);
  });

  it('is rejected by openssl when signed by a key that is not the responder', async () => {
    const request = parseOcspRequest(readFileSync(w.path('req.der')));
    const imposter = keyObjectSigner(ecKey());
    const forged = {
      cert: responder.cert,
      signer: { ...imposter, publicKeySpkiDer: responder.signer.publicKeySpkiDer },
    };
    const der = await buildOcspResponse({
      responder: forged,
      issuerCert: ca.der,
      responses: [{ certId: request.requests[0]!, status: 'good', thisUpdate: now }],
      nonce: request.nonce!,
      producedAt: now,
    });
    w.write('forged.der', der);
    const result = verifyResponse('forged.der');
    expect(result.signature).not.toMatch(/nonce/i);
    expect(result.output).not.toContain('Response verify OK');
    expect(result.output).toMatch(/Response Verify Failure|signature failure/i);
  });

  it('refuses a responder not issued by the CA, or a signer that does not hold its key', async () => {
    const request = parseOcspRequest(readFileSync(w.path('req.der')));
    const base = {
      issuerCert: other.der,
      responses: [{ certId: request.requests[0]!, status: 'good' as const, thisUpdate: now }],
      producedAt: now,
    };
    await expect(buildOcspResponse({ ...base, responder })).rejects.toSatisfy((e) =>
      isPkiError(e, 'invalid_chain'),
    );
    await expect(
      buildOcspResponse({
        ...base,
        issuerCert: ca.der,
        responder: { cert: responder.cert, signer: ca.signer },
      }),
    ).rejects.toSatisfy((e) => isPkiError(e, 'key_mismatch'));
    await expect(
      buildOcspResponse({
        ...base,
        issuerCert: ca.der,
        responder,
        responses: [{ certId: request.requests[0]!, status: 'revoked', thisUpdate: now }],
      }),
    ).rejects.toSatisfy((e) => isPkiError(e, 'invalid_argument'));
  });

  it('lets the CA answer for itself', async () => {
    const request = parseOcspRequest(readFileSync(w.path('req.der')));
    const der = await buildOcspResponse({
      responder: { cert: ca.der, signer: ca.signer },
      issuerCert: ca.der,
      responses: [{ certId: request.requests[0]!, status: 'good', thisUpdate: now }],
      nonce: request.nonce!,
      producedAt: now,
    });
    w.write('self.der', der);
    const result = w.openssl(
      'ocsp',
      '-respin',
      'self.der',
      '-reqin',
      'req.der',
      '-no_nonce',
      '-CAfile',
      'ca.pem',
    );
    expect(result.output).toContain('Response verify OK');
    expect(result.output).not.toMatch(/nonce/i);
  });

  it(`names the serial openssl printed (${serialToHex(leafSerial)})`, () => {
    const text = w.openssl('ocsp', '-reqin', 'req.der', '-req_text').output;
    expect(text.toLowerCase()).toContain(`serial number: ${serialToHex(leafSerial)}`);
  });
});

describe('OCSP error responses and malformed requests', () => {
  it('encodes each error status so openssl reads it back', () => {
    const w = workdir();
    try {
      for (const [status, code] of [
        ['malformedRequest', 'malformedrequest (1)'],
        ['internalError', 'internalerror (2)'],
        ['tryLater', 'trylater (3)'],
        ['unauthorized', 'unauthorized (6)'],
      ] as const) {
        w.write('err.der', ocspErrorResponse(status));
        const result = w.openssl('ocsp', '-respin', 'err.der', '-resp_text', '-noverify');
        expect(result.output).toContain(`Responder Error: ${code}`);
      }
    } finally {
      w.remove();
    }
  });

  it('refuses to encode "successful" as an error', () => {
    expect(() => ocspErrorResponse('successful' as never)).toThrow(/not an OCSP error status/);
  });

  it('rejects bytes that are not an OCSP request', () => {
    expect(() => parseOcspRequest(Buffer.from('not der'))).toThrow(
      expect.objectContaining({ code: 'malformed' }),
    );
    expect(() => parseOcspRequest(Buffer.alloc(0))).toThrow(expect.objectContaining({ code: 'malformed' }));
  });

  it('rejects a request with more CertIDs than allowed', async () => {
    const ca = await makeCa('ec-p256');
    const w = workdir();
    try {
      w.write('ca.pem', ca.pem);
      const args = ['ocsp', '-issuer', 'ca.pem'];
      for (let i = 1; i <= 3; i++) args.push('-serial', String(i));
      expect(w.openssl(...args, '-reqout', 'multi.der').status).toBe(0);
      const der = readFileSync(w.path('multi.der'));
      expect(parseOcspRequest(der).requests.map((r) => r.serial)).toEqual([1n, 2n, 3n]);
      expect(() => parseOcspRequest(der, { maxRequests: 2 })).toThrow(
        expect.objectContaining({ code: 'malformed' }),
      );
    } finally {
      w.remove();
    }
  });
});
