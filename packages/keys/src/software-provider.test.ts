import { constants, createPrivateKey, createPublicKey, randomBytes, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SignatureAlgorithm, SigningKeySpec } from './crypto-provider';
import { CryptoProviderError, KeyProtectorError } from './errors';
import { createKeyProtector } from './key-protector';
import { masterKeyId } from './master-key';
import { SOFTWARE_SIGNING_KEY_AAD, createSoftwareProvider } from './software-provider';

const master = randomBytes(32);
const protector = createKeyProtector({ master });
const provider = createSoftwareProvider({ master, protector });
const message = Buffer.from('tbsCertificate bytes stand-in', 'utf8');

function verifies(spki: Buffer, algorithm: SignatureAlgorithm, signature: Buffer): boolean {
  const key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  const hash = algorithm.slice(algorithm.lastIndexOf('-') + 1);
  if (algorithm.startsWith('ecdsa')) return verify(hash, message, { key, dsaEncoding: 'der' }, signature);
  if (algorithm.startsWith('rsa-pss')) {
    return verify(
      hash,
      message,
      { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
      signature,
    );
  }
  return verify(hash, message, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
}

const cases: Array<{
  spec: SigningKeySpec;
  algorithms: SignatureAlgorithm[];
  check: (spki: Buffer) => void;
}> = [
  {
    spec: { kty: 'EC', curve: 'P-256' },
    algorithms: ['ecdsa-sha256'],
    check: (spki) =>
      expect(createPublicKey({ key: spki, format: 'der', type: 'spki' }).asymmetricKeyDetails).toEqual({
        namedCurve: 'prime256v1',
      }),
  },
  {
    spec: { kty: 'EC', curve: 'P-384' },
    algorithms: ['ecdsa-sha384'],
    check: (spki) =>
      expect(createPublicKey({ key: spki, format: 'der', type: 'spki' }).asymmetricKeyDetails).toEqual({
        namedCurve: 'secp384r1',
      }),
  },
  {
    spec: { kty: 'RSA', bits: 3072 },
    algorithms: ['rsa-pkcs1-sha256', 'rsa-pss-sha256', 'rsa-pss-sha384'],
    check: (spki) =>
      expect(
        createPublicKey({ key: spki, format: 'der', type: 'spki' }).asymmetricKeyDetails?.modulusLength,
      ).toBe(3072),
  },
];

describe('software provider', () => {
  it('identifies itself and wraps data keys under the master key', async () => {
    expect(provider.id).toBe('software');
    expect(provider.kind).toBe('software');
    expect(provider.wrappingKeyId.equals(masterKeyId(master))).toBe(true);
    const dek = randomBytes(32);
    const aad = Buffer.from('row:1');
    const wrapped = await provider.wrapKey(dek, aad);
    expect(wrapped.includes(dek)).toBe(false);
    expect((await provider.unwrapKey(wrapped, aad)).equals(dek)).toBe(true);
    await expect(provider.unwrapKey(wrapped, Buffer.from('row:2'))).rejects.toMatchObject({
      code: 'tampered',
    });
  });

  it.each(cases)('generates a $spec.kty key and signs verifiable signatures ($algorithms)', async (c) => {
    const { keyRef, publicKeySpkiDer } = await provider.generateSigningKey(c.spec);
    c.check(publicKeySpkiDer);
    expect(keyRef.startsWith('amp:v1:')).toBe(true);
    expect((await provider.publicKey(keyRef)).equals(publicKeySpkiDer)).toBe(true);

    // The reference is the sealed PKCS#8 private key, and nothing else can open it.
    const pkcs8 = await protector.open(keyRef, SOFTWARE_SIGNING_KEY_AAD);
    const privateKey = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
    expect(createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).equals(publicKeySpkiDer)).toBe(
      true,
    );
    expect(Buffer.from(keyRef.slice('amp:v1:'.length), 'base64url').includes(pkcs8.subarray(16, 48))).toBe(
      false,
    );
    await expect(protector.open(keyRef, 'ca_keys:private_key:1')).rejects.toMatchObject({ code: 'tampered' });

    for (const algorithm of c.algorithms) {
      const signature = await provider.sign(keyRef, algorithm, message);
      expect(verifies(publicKeySpkiDer, algorithm, signature)).toBe(true);
      expect(verifies(publicKeySpkiDer, algorithm, Buffer.from(signature).fill(0, 8, 16))).toBe(false);
      if (algorithm.startsWith('ecdsa')) expect(signature[0]).toBe(0x30); // DER SEQUENCE, as X.509 needs
    }
  });

  it('refuses algorithms that do not fit the key, and key types it does not support', async () => {
    const ec = await provider.generateSigningKey({ kty: 'EC', curve: 'P-256' });
    await expect(provider.sign(ec.keyRef, 'rsa-pkcs1-sha256', message)).rejects.toMatchObject({
      code: 'algorithm_key_mismatch',
    });
    await expect(provider.sign(ec.keyRef, 'md5' as SignatureAlgorithm, message)).rejects.toBeInstanceOf(
      CryptoProviderError,
    );
    await expect(provider.sign(ec.keyRef, 'toString' as SignatureAlgorithm, message)).rejects.toMatchObject({
      code: 'unsupported_algorithm',
    });
    await expect(
      provider.generateSigningKey({ kty: 'EC', curve: 'P-521' } as unknown as SigningKeySpec),
    ).rejects.toMatchObject({ code: 'unsupported_key_spec' });
    await expect(
      provider.generateSigningKey({ kty: 'RSA', bits: 1024 } as unknown as SigningKeySpec),
    ).rejects.toMatchObject({ code: 'unsupported_key_spec' });
  });

  it('cannot use a key reference sealed under another master key, or a value that is not a key', async () => {
    const ec = await provider.generateSigningKey({ kty: 'EC', curve: 'P-256' });
    const otherMaster = randomBytes(32);
    const other = createSoftwareProvider({
      master: otherMaster,
      protector: createKeyProtector({ master: otherMaster }),
    });
    await expect(other.sign(ec.keyRef, 'ecdsa-sha256', message)).rejects.toMatchObject({
      code: 'unknown_key_id',
    });
    const notAKey = await protector.sealToString('hello', 'ca_keys:private_key:1');
    await expect(provider.sign(notAKey, 'ecdsa-sha256', message)).rejects.toBeInstanceOf(KeyProtectorError);
  });

  it('keeps signing after a master key rotation once the key reference is rewrapped', async () => {
    const { keyRef, publicKeySpkiDer } = await provider.generateSigningKey({ kty: 'EC', curve: 'P-384' });
    const newMaster = randomBytes(32);
    const rotated = createKeyProtector({ master: newMaster, previous: master });
    const rotatedProvider = createSoftwareProvider({ master: newMaster, protector: rotated });
    expect(rotated.needsRewrap(keyRef)).toBe(true);
    const rewrapped = await rotated.rewrap(keyRef, SOFTWARE_SIGNING_KEY_AAD);
    const afterRotation = createSoftwareProvider({
      master: newMaster,
      protector: createKeyProtector({ master: newMaster }),
    });
    await expect(afterRotation.sign(keyRef, 'ecdsa-sha384', message)).rejects.toMatchObject({
      code: 'unknown_key_id',
    });
    const signature = await afterRotation.sign(rewrapped, 'ecdsa-sha384', message);
    expect(verifies(publicKeySpkiDer, 'ecdsa-sha384', signature)).toBe(true);
    expect(
      verifies(publicKeySpkiDer, 'ecdsa-sha384', await rotatedProvider.sign(keyRef, 'ecdsa-sha384', message)),
    ).toBe(true);
  });

  it('opens a signing key once, however many signatures it makes, and fails the same after a bad reference', async () => {
    let opens = 0;
    const counting = {
      ...protector,
      open: (...args: Parameters<typeof protector.open>) => {
        opens++;
        return protector.open(...args);
      },
    };
    const cached = createSoftwareProvider({ master, protector: counting });
    const { keyRef, publicKeySpkiDer } = await cached.generateSigningKey({ kty: 'EC', curve: 'P-256' });
    for (let i = 0; i < 3; i++) {
      expect(
        verifies(publicKeySpkiDer, 'ecdsa-sha256', await cached.sign(keyRef, 'ecdsa-sha256', message)),
      ).toBe(true);
    }
    expect(opens).toBe(1);
    // A tampered reference is another reference: it is opened, and refused, every time.
    const tampered = keyRef.slice(0, -4) + (keyRef.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    for (let i = 0; i < 2; i++) {
      await expect(cached.sign(tampered, 'ecdsa-sha256', message)).rejects.toBeInstanceOf(KeyProtectorError);
    }
    expect(opens).toBe(3);
  });
});
