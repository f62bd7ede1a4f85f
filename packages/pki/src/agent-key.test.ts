import { createPrivateKey, createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateKeyPairForAgent, type AgentKeySpec } from './agent-key.js';
import { issueLeaf } from './leaf.js';
import { pemEncode } from './encoding.js';
import { describePublicKey } from './public-key.js';
import { DAY, HOUR, makeCa } from './testing/fixtures.js';
import { workdir } from './testing/openssl.js';

describe('N-8: generateKeyPairForAgent (server-made key pair)', () => {
  it.each([
    [
      { type: 'ec', curve: 'P-256' },
      { type: 'ec', curve: 'P-256' },
    ],
    [
      { type: 'ec', curve: 'P-384' },
      { type: 'ec', curve: 'P-384' },
    ],
    [
      { type: 'rsa', bits: 2048 },
      { type: 'rsa', bits: 2048 },
    ],
  ] as const)('%o yields a PKCS#8 key whose public half is the SPKI', async (spec, described) => {
    const key = await generateKeyPairForAgent(spec);
    expect(key.privateKeyPkcs8Pem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const derived = createPublicKey(createPrivateKey(key.privateKeyPkcs8Pem)).export({
      type: 'spki',
      format: 'der',
    });
    expect(derived).toEqual(key.publicKeySpkiDer);
    expect(describePublicKey(key.publicKeySpkiDer)).toEqual(described);
  });

  it('produces a key and certificate pair openssl accepts together', async () => {
    const ca = await makeCa('ec-p256');
    const key = await generateKeyPairForAgent({ type: 'ec', curve: 'P-256' });
    const now = Date.now();
    const cert = await issueLeaf({
      issuer: { cert: ca.der, signer: ca.signer },
      subjectPublicKeySpkiDer: key.publicKeySpkiDer,
      subject: 'CN=server-keyed agent',
      notBefore: new Date(now - HOUR),
      notAfter: new Date(now + DAY),
      serial: 11n,
      eku: ['clientAuth'],
    });
    const w = workdir();
    try {
      w.write('key.pem', key.privateKeyPkcs8Pem);
      w.write('cert.pem', pemEncode(cert, 'CERTIFICATE'));
      w.write('ca.pem', ca.pem);
      expect(w.openssl('verify', '-CAfile', 'ca.pem', 'cert.pem').output).toContain('cert.pem: OK');
      const fromKey = w.openssl('pkey', '-in', 'key.pem', '-pubout').stdout;
      const fromCert = w.openssl('x509', '-in', 'cert.pem', '-noout', '-pubkey').stdout;
      expect(fromKey).toBe(fromCert);
    } finally {
      w.remove();
    }
  });

  it('refuses specs outside the policy', async () => {
    await expect(
      generateKeyPairForAgent({ type: 'rsa', bits: 1024 } as unknown as AgentKeySpec),
    ).rejects.toThrow(/unsupported agent key spec/);
    await expect(
      generateKeyPairForAgent({ type: 'ec', curve: 'P-521' } as unknown as AgentKeySpec),
    ).rejects.toThrow(/unsupported agent key spec/);
  });
});
