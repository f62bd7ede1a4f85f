import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCaCertificate } from './ca-certificate.js';
import { issueLeaf, issueOcspResponderCert } from './leaf.js';
import { agentIdentityUri, parseAgentIdentity, parseAgentIdentityUri } from './agent-identity.js';
import { inspectCertificate, subjectAltNameUris } from './certificate.js';
import { prepareIssuer } from './issuer.js';
import { fingerprintSha256, pemEncode, serialToHex } from './encoding.js';
import { isPkiError } from './errors.js';
import { keyObjectSigner } from './signer.js';
import { CA_KINDS, DAY, HOUR, ecKey, makeCa, rsaKey, spki, type TestCa } from './testing/fixtures.js';
import { workdir, type Workdir } from './testing/openssl.js';

describe.each(CA_KINDS)('issuance under a %s CA, judged by openssl', (kind) => {
  const now = new Date();
  let w: Workdir;
  let ca: TestCa;
  const window = { notBefore: new Date(now.getTime() - HOUR), notAfter: new Date(now.getTime() + 365 * DAY) };

  beforeAll(async () => {
    w = workdir();
    ca = await makeCa(kind, now);
    w.write('ca.pem', ca.pem);
  });
  afterAll(() => w.remove());

  it('creates a self-signed root openssl accepts as a CA', () => {
    const text = w.openssl('x509', '-in', 'ca.pem', '-noout', '-text').output;
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE/);
    expect(text).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(w.openssl('verify', '-CAfile', 'ca.pem', 'ca.pem').output).toContain('ca.pem: OK');
    const info = inspectCertificate(ca.der);
    expect(info.isCa).toBe(true);
    expect(info.subjectKeyIdentifier).toEqual(info.authorityKeyIdentifier);
    expect(info.serial > 0n).toBe(true);
  });

  it('issues an agent leaf that openssl verifies, with identity, CDP and AIA', async () => {
    const uri = agentIdentityUri(
      '0193a1b2-0000-7000-8000-000000000001',
      '0193a1b2-0000-7000-8000-0000000000aa',
    );
    const leaf = await issueLeaf({
      issuer: { cert: ca.der, signer: ca.signer },
      subjectPublicKeySpkiDer: spki(ecKey()),
      subject: 'CN=0193a1b2-0000-7000-8000-0000000000aa',
      sans: { uris: [uri] },
      ...window,
      serial: 0x7fn,
      eku: ['clientAuth'],
      crlUrl: 'https://ampora.example/pki/crl.der',
      ocspUrl: 'https://ampora.example/pki/ocsp',
      caIssuersUrl: 'https://ampora.example/pki/ca.der',
    });
    w.write('agent.pem', pemEncode(leaf, 'CERTIFICATE'));
    expect(w.openssl('verify', '-CAfile', 'ca.pem', '-purpose', 'sslclient', 'agent.pem').output).toContain(
      'agent.pem: OK',
    );
    // clientAuth only: openssl must refuse it as a TLS server certificate.
    expect(
      w.openssl('verify', '-CAfile', 'ca.pem', '-purpose', 'sslserver', 'agent.pem').output,
    ).not.toContain('agent.pem: OK');
    const text = w.openssl('x509', '-in', 'agent.pem', '-noout', '-text').output;
    expect(text).toContain(`URI:${uri}`);
    expect(text).toMatch(
      /CRL Distribution Points:\s+Full Name:\s+URI:https:\/\/ampora\.example\/pki\/crl\.der/,
    );
    expect(text).toContain('OCSP - URI:https://ampora.example/pki/ocsp');
    expect(text).toContain('CA Issuers - URI:https://ampora.example/pki/ca.der');
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature\n/);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(parseAgentIdentity(leaf)).toEqual({
      tenantId: '0193a1b2-0000-7000-8000-000000000001',
      agentId: '0193a1b2-0000-7000-8000-0000000000aa',
    });
    const info = inspectCertificate(leaf);
    expect(info.authorityKeyIdentifier).toEqual(inspectCertificate(ca.der).subjectKeyIdentifier);
    expect(info.serial).toBe(0x7fn);
    expect(info.notAfter).toEqual(new Date(Math.floor(window.notAfter.getTime() / 1000) * 1000));
    const opensslFingerprint = w.openssl(
      'x509',
      '-in',
      'agent.pem',
      '-noout',
      '-fingerprint',
      '-sha256',
    ).stdout;
    expect(opensslFingerprint.split('=')[1]!.trim().replaceAll(':', '').toLowerCase()).toBe(
      fingerprintSha256(leaf),
    );
  });

  it('gives an RSA server leaf keyEncipherment and IP/DNS SANs', async () => {
    const leaf = await issueLeaf({
      issuer: { cert: ca.der, signer: ca.signer },
      subjectPublicKeySpkiDer: spki(rsaKey(2048)),
      subject: '',
      sans: { dns: ['ampora.example'], ips: ['127.0.0.1', '::1'] },
      ...window,
      serial: 0x80n, // high bit set: DER needs a leading zero byte
      eku: ['serverAuth', 'clientAuth'],
    });
    w.write('server.pem', pemEncode(leaf, 'CERTIFICATE'));
    expect(
      w.openssl(
        'verify',
        '-CAfile',
        'ca.pem',
        '-purpose',
        'sslserver',
        '-verify_hostname',
        'ampora.example',
        'server.pem',
      ).output,
    ).toContain('server.pem: OK');
    expect(
      w.openssl('verify', '-CAfile', 'ca.pem', '-verify_ip', '127.0.0.1', 'server.pem').output,
    ).toContain('server.pem: OK');
    const text = w.openssl('x509', '-in', 'server.pem', '-noout', '-text').output;
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(text).toMatch(/Subject Alternative Name: critical/);
    expect(text).toContain(`Serial Number: 128 (0x80)`);
    expect(parseAgentIdentity(leaf)).toBeNull();
  });

  it('issues an OCSP responder certificate with ocspSigning and nocheck', async () => {
    const cert = await issueOcspResponderCert({
      issuer: { cert: ca.der, signer: ca.signer },
      subjectPublicKeySpkiDer: spki(ecKey('P-384')),
      subject: 'CN=Ampora OCSP',
      notBefore: window.notBefore,
      notAfter: new Date(now.getTime() + 90 * DAY),
      serial: 0x0cn,
    });
    w.write('ocsp.pem', pemEncode(cert, 'CERTIFICATE'));
    expect(w.openssl('verify', '-CAfile', 'ca.pem', '-purpose', 'ocsphelper', 'ocsp.pem').output).toContain(
      'ocsp.pem: OK',
    );
    const text = w.openssl('x509', '-in', 'ocsp.pem', '-noout', '-text').output;
    expect(text).toContain('OCSP Signing');
    expect(text).toContain('OCSP No Check');
    expect(text).not.toContain('CRL Distribution Points');
    expect(inspectCertificate(cert).extendedKeyUsage).toEqual(['1.3.6.1.5.5.7.3.9']);
  });

  it('a leaf signed by another key fails openssl verification', async () => {
    const imposter = keyObjectSigner(kind === 'ec-p256' ? ecKey() : rsaKey(3072));
    // Claim the CA's public key so the library's own check passes; only the signature betrays it.
    const signer = { ...imposter, publicKeySpkiDer: ca.signer.publicKeySpkiDer };
    const leaf = await issueLeaf({
      issuer: { cert: ca.der, signer },
      subjectPublicKeySpkiDer: spki(ecKey()),
      subject: 'CN=forged',
      ...window,
      serial: 9n,
      eku: ['clientAuth'],
    });
    w.write('forged.pem', pemEncode(leaf, 'CERTIFICATE'));
    expect(w.openssl('verify', '-CAfile', 'ca.pem', 'forged.pem').output).toMatch(/signature failure/);
  });

  it(`prints the serial openssl shows (${serialToHex(0x7fn)})`, () => {
    expect(serialToHex(0x7fn)).toBe('7f');
  });
});

describe('issuance refusals', () => {
  const now = new Date();
  const window = { notBefore: new Date(now.getTime() - HOUR), notAfter: new Date(now.getTime() + DAY) };
  let ca: TestCa;
  beforeAll(async () => {
    ca = await makeCa('ec-p256', now);
  });
  const base = () => ({
    issuer: { cert: ca.der, signer: ca.signer },
    subjectPublicKeySpkiDer: spki(ecKey()),
    subject: 'CN=x',
    ...window,
    serial: 1n,
    eku: ['clientAuth' as const],
  });

  it('refuses a signer that does not hold the issuer key', async () => {
    const params = { ...base(), issuer: { cert: ca.der, signer: keyObjectSigner(ecKey()) } };
    await expect(issueLeaf(params)).rejects.toSatisfy((e) => isPkiError(e, 'key_mismatch'));
  });

  it('checks a prepared issuer at every use, and re-prepares a copy that swapped its signer', async () => {
    const prepared = prepareIssuer({ cert: ca.der, signer: ca.signer });
    const leaf = await issueLeaf({ ...base(), issuer: prepared });
    expect(inspectCertificate(leaf).authorityKeyIdentifier).toEqual(
      inspectCertificate(ca.der).subjectKeyIdentifier,
    );
    const swapped = { ...prepared, signer: keyObjectSigner(ecKey()) };
    await expect(issueLeaf({ ...base(), issuer: swapped })).rejects.toSatisfy((e) =>
      isPkiError(e, 'key_mismatch'),
    );
    const key = ecKey();
    const notCa = prepareIssuer({
      cert: await issueLeaf({ ...base(), subjectPublicKeySpkiDer: spki(key) }),
      signer: keyObjectSigner(key),
    });
    await expect(issueLeaf({ ...base(), issuer: notCa })).rejects.toSatisfy((e) => isPkiError(e, 'not_a_ca'));
  });

  it('reads the SAN URIs alone as a full inspection does, and refuses what is not a certificate', async () => {
    const uris = [agentIdentityUri('t', 'a1'), 'urn:other:thing'];
    const leaf = await issueLeaf({ ...base(), sans: { uris, dns: ['a.example'] } });
    expect(subjectAltNameUris(leaf)).toEqual(inspectCertificate(leaf).sans.uris);
    expect(subjectAltNameUris(leaf)).toEqual(uris);
    expect(subjectAltNameUris(ca.der)).toEqual([]);
    expect(() => subjectAltNameUris(Buffer.from([0x30, 0x03, 0x02, 0x01]))).toThrow(
      expect.objectContaining({ code: 'malformed' }),
    );
  });

  it('refuses a non-CA issuer', async () => {
    const key = ecKey();
    const leaf = await issueLeaf({ ...base(), subjectPublicKeySpkiDer: spki(key) });
    const params = { ...base(), issuer: { cert: leaf, signer: keyObjectSigner(key) } };
    await expect(issueLeaf(params)).rejects.toSatisfy((e) => isPkiError(e, 'not_a_ca'));
  });

  it('refuses weak or unsupported subject keys', async () => {
    await expect(issueLeaf({ ...base(), subjectPublicKeySpkiDer: spki(rsaKey(1024)) })).rejects.toSatisfy(
      (e) => isPkiError(e, 'weak_key'),
    );
    await expect(issueLeaf({ ...base(), subjectPublicKeySpkiDer: spki(ecKey('P-521')) })).rejects.toSatisfy(
      (e) => isPkiError(e, 'weak_key'),
    );
  });

  it('refuses validity outside the issuer, inverted windows and bad serials', async () => {
    const late = { ...base(), notAfter: new Date(now.getTime() + 20 * 365 * DAY) };
    await expect(issueLeaf(late)).rejects.toSatisfy((e) => isPkiError(e, 'invalid_argument'));
    const inverted = { ...base(), notBefore: window.notAfter, notAfter: window.notBefore };
    await expect(issueLeaf(inverted)).rejects.toSatisfy((e) => isPkiError(e, 'invalid_argument'));
    await expect(issueLeaf({ ...base(), serial: 0n })).rejects.toSatisfy((e) =>
      isPkiError(e, 'invalid_argument'),
    );
    await expect(issueLeaf({ ...base(), serial: 1n << 160n })).rejects.toSatisfy((e) =>
      isPkiError(e, 'invalid_argument'),
    );
  });

  it('refuses a leaf with neither subject nor SAN, no EKU, or a non-ASCII URI', async () => {
    await expect(issueLeaf({ ...base(), subject: '' })).rejects.toSatisfy((e) =>
      isPkiError(e, 'invalid_argument'),
    );
    await expect(issueLeaf({ ...base(), eku: [] })).rejects.toSatisfy((e) =>
      isPkiError(e, 'invalid_argument'),
    );
    await expect(issueLeaf({ ...base(), sans: { uris: ['urn:é'] } })).rejects.toSatisfy((e) =>
      isPkiError(e, 'invalid_argument'),
    );
    await expect(issueLeaf({ ...base(), sans: { ips: ['999.1.1.1'] } })).rejects.toSatisfy((e) =>
      isPkiError(e, 'invalid_argument'),
    );
    await expect(issueLeaf({ ...base(), subject: 'not a name' })).rejects.toSatisfy((e) =>
      isPkiError(e, 'invalid_argument'),
    );
  });

  it('refuses a CA with a weak key or no subject', async () => {
    const weak = keyObjectSigner(rsaKey(1024));
    await expect(createCaCertificate({ signer: weak, subject: 'CN=weak', ...window })).rejects.toSatisfy(
      (e) => isPkiError(e, 'weak_key'),
    );
    await expect(createCaCertificate({ signer: ca.signer, subject: ' ', ...window })).rejects.toSatisfy((e) =>
      isPkiError(e, 'invalid_argument'),
    );
  });
});

describe('agent identity URIs', () => {
  it('round-trips tenant and agent ids', () => {
    const uri = agentIdentityUri('acme', 'agent-01');
    expect(uri).toBe('urn:ampora:tenant:acme:agent:agent-01');
    expect(parseAgentIdentityUri(uri)).toEqual({ tenantId: 'acme', agentId: 'agent-01' });
  });

  it('refuses ids that would make the URN ambiguous', () => {
    expect(() => agentIdentityUri('a:b', 'c')).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    expect(() => agentIdentityUri('a', '')).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    expect(parseAgentIdentityUri('urn:ampora:tenant:a:agent:b:c')).toBeNull();
    expect(parseAgentIdentityUri('urn:other:tenant:a:agent:b')).toBeNull();
  });

  it('rejects a certificate that carries two identities', async () => {
    const ca = await makeCa('ec-p256');
    const now = Date.now();
    const leaf = await issueLeaf({
      issuer: { cert: ca.der, signer: ca.signer },
      subjectPublicKeySpkiDer: spki(ecKey()),
      subject: 'CN=two',
      sans: { uris: [agentIdentityUri('t', 'a1'), agentIdentityUri('t', 'a2')] },
      notBefore: new Date(now - HOUR),
      notAfter: new Date(now + DAY),
      serial: 3n,
      eku: ['clientAuth'],
    });
    expect(() => parseAgentIdentity(leaf)).toThrow(expect.objectContaining({ code: 'malformed' }));
  });
});
