import { createHmac, createPrivateKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { PkiError } from './errors.js';

/**
 * PKCS#12 reading. node-forge does the password-based cryptography (PKCS#12 KDF,
 * PBES2, 3DES and RC2 PBE), but it cannot represent EC keys or certificates, so
 * the structure is walked here and certificates and keys leave as DER, for Node
 * crypto to load. This keeps EC and RSA on one path.
 */

const OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  keyBag: '1.2.840.113549.1.12.10.1.1',
  shroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  safeContentsBag: '1.2.840.113549.1.12.10.1.6',
  x509Certificate: '1.2.840.113549.1.9.22.1',
} as const;

const MAC_DIGESTS: Readonly<
  Record<string, { name: string; bytes: number; md: () => forge.md.MessageDigest }>
> = {
  '1.3.14.3.2.26': { name: 'sha1', bytes: 20, md: () => forge.md.sha1.create() },
  '2.16.840.1.101.3.4.2.1': { name: 'sha256', bytes: 32, md: () => forge.md.sha256.create() },
  '2.16.840.1.101.3.4.2.2': { name: 'sha384', bytes: 48, md: () => forge.md.sha384.create() },
  '2.16.840.1.101.3.4.2.3': { name: 'sha512', bytes: 64, md: () => forge.md.sha512.create() },
};

/** Upper bound on PBKDF iterations we will spend CPU on. */
const MAX_ITERATIONS = 10_000_000;

type Asn1 = forge.asn1.Asn1;

interface ForgeCipher {
  update(data: forge.util.ByteBuffer): void;
  finish(): boolean;
  output: forge.util.ByteBuffer;
}

// Present at runtime, missing from @types/node-forge.
const pbe = (
  forge.pki as unknown as { pbe: { getCipher(oid: string, params: Asn1, password: string): ForgeCipher } }
).pbe;

export interface Pkcs12Contents {
  readonly certificates: Buffer[];
  readonly privateKeys: KeyObject[];
}

function fail(message: string): never {
  throw new PkiError('malformed', `PKCS#12: ${message}`);
}

function nodes(node: Asn1 | undefined, what: string): Asn1[] {
  if (!node || !Array.isArray(node.value)) fail(`${what} is not constructed`);
  return node.value as Asn1[];
}

function oidOf(node: Asn1 | undefined, what: string): string {
  if (!node || node.type !== forge.asn1.Type.OID || typeof node.value !== 'string')
    fail(`${what} is not an OID`);
  return forge.asn1.derToOid(node.value);
}

/** OCTET STRING content; BER encoders may split it into constructed chunks. */
function octets(node: Asn1 | undefined, what: string): string {
  if (!node) fail(`${what} is missing`);
  if (typeof node.value === 'string') return node.value;
  return (node.value as Asn1[]).map((chunk) => octets(chunk, what)).join('');
}

function toBuffer(bytes: string): Buffer {
  return Buffer.from(bytes, 'binary');
}

function integerOf(node: Asn1 | undefined, what: string): number {
  if (!node || typeof node.value !== 'string') fail(`${what} is not an INTEGER`);
  return forge.asn1.derToInteger(node.value);
}

function verifyMac(macData: Asn1, authSafeContent: string, password: string): void {
  const [digestInfo, salt, iterationsNode] = nodes(macData, 'MacData');
  const [algorithm, digest] = nodes(digestInfo, 'DigestInfo');
  const digestOid = oidOf(nodes(algorithm, 'MAC algorithm')[0], 'MAC algorithm');
  const spec = MAC_DIGESTS[digestOid];
  if (!spec) throw new PkiError('unsupported_algorithm', `PKCS#12 MAC digest ${digestOid} is not supported`);
  const iterations = iterationsNode ? integerOf(iterationsNode, 'MAC iterations') : 1;
  if (iterations < 1 || iterations > MAX_ITERATIONS) fail('MAC iteration count out of range');
  const key = forge.pkcs12.generateKey(
    password,
    forge.util.createBuffer(octets(salt, 'MAC salt')),
    3,
    iterations,
    spec.bytes,
    spec.md(),
  );
  const expected = toBuffer(octets(digest, 'MAC digest'));
  const actual = createHmac(spec.name, toBuffer(key.getBytes())).update(toBuffer(authSafeContent)).digest();
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
    throw new PkiError('bad_password', 'PKCS#12 integrity check failed: wrong password or corrupted file');
  }
}

function decrypt(encryptedData: Asn1, password: string): string {
  const [, encryptedContentInfo] = nodes(encryptedData, 'EncryptedData');
  const [, algorithm, content] = nodes(encryptedContentInfo, 'EncryptedContentInfo');
  const [algorithmOid, params] = nodes(algorithm, 'content encryption algorithm');
  const oid = oidOf(algorithmOid, 'content encryption algorithm');
  let cipher: ForgeCipher;
  try {
    cipher = pbe.getCipher(oid, params!, password);
  } catch (cause) {
    throw new PkiError('unsupported_algorithm', `PKCS#12 encryption ${oid} is not supported`, { cause });
  }
  cipher.update(forge.util.createBuffer(octets(content, 'encrypted content')));
  if (!cipher.finish()) throw new PkiError('bad_password', 'PKCS#12 content could not be decrypted');
  return cipher.output.getBytes();
}

function loadPkcs8(privateKeyInfo: Asn1): KeyObject {
  try {
    return createPrivateKey({
      key: toBuffer(forge.asn1.toDer(privateKeyInfo).getBytes()),
      format: 'der',
      type: 'pkcs8',
    });
  } catch (cause) {
    throw new PkiError('malformed', 'PKCS#12 key cannot be loaded', { cause });
  }
}

function readSafeContents(
  der: string,
  password: string,
  out: { certificates: Buffer[]; privateKeys: KeyObject[] },
) {
  for (const bag of nodes(forge.asn1.fromDer(der), 'SafeContents')) {
    const [bagId, wrappedValue] = nodes(bag, 'SafeBag');
    const value = nodes(wrappedValue, 'SafeBag value')[0];
    switch (oidOf(bagId, 'bag type')) {
      case OID.keyBag:
        out.privateKeys.push(loadPkcs8(value!));
        break;
      case OID.shroudedKeyBag: {
        let info: Asn1 | null;
        try {
          info = forge.pki.decryptPrivateKeyInfo(value!, password);
        } catch (cause) {
          throw new PkiError('unsupported_algorithm', 'PKCS#12 key encryption is not supported', { cause });
        }
        if (!info) throw new PkiError('bad_password', 'PKCS#12 key could not be decrypted');
        out.privateKeys.push(loadPkcs8(info));
        break;
      }
      case OID.certBag: {
        const [certType, certValue] = nodes(value, 'CertBag');
        if (oidOf(certType, 'certificate type') !== OID.x509Certificate) break;
        out.certificates.push(toBuffer(octets(nodes(certValue, 'certificate value')[0], 'certificate')));
        break;
      }
      case OID.safeContentsBag:
        readSafeContents(forge.asn1.toDer(value!).getBytes(), password, out);
        break;
      default:
        // CRL and secret bags carry nothing a CA import needs.
        break;
    }
  }
}

/** Certificates (DER) and private keys found in a password-protected PKCS#12 file. */
export function readPkcs12(pkcs12: Buffer, password: string): Pkcs12Contents {
  const out = { certificates: [] as Buffer[], privateKeys: [] as KeyObject[] };
  try {
    const pfx = nodes(forge.asn1.fromDer(forge.util.createBuffer(pkcs12.toString('binary'))), 'PFX');
    const [version, authSafe, macData] = pfx;
    if (integerOf(version, 'version') !== 3) fail('version is not 3');
    const [contentType, wrapped] = nodes(authSafe, 'authSafe');
    if (oidOf(contentType, 'authSafe type') !== OID.data) {
      throw new PkiError('unsupported_algorithm', 'only password-integrity PKCS#12 files are supported');
    }
    const authSafeContent = octets(nodes(wrapped, 'authSafe content')[0], 'authSafe content');
    // A file without a MAC has no integrity protection; refuse it rather than trust it.
    if (!macData) fail('file has no MAC');
    verifyMac(macData, authSafeContent, password);
    for (const contentInfo of nodes(forge.asn1.fromDer(authSafeContent), 'AuthenticatedSafe')) {
      const [type, content] = nodes(contentInfo, 'ContentInfo');
      const inner = nodes(content, 'ContentInfo content')[0];
      const oid = oidOf(type, 'ContentInfo type');
      if (oid === OID.data) readSafeContents(octets(inner, 'SafeContents'), password, out);
      else if (oid === OID.encryptedData) readSafeContents(decrypt(inner!, password), password, out);
      else throw new PkiError('unsupported_algorithm', `PKCS#12 content type ${oid} is not supported`);
    }
  } catch (cause) {
    if (cause instanceof PkiError) throw cause;
    throw new PkiError('malformed', 'not a PKCS#12 file', { cause });
  }
  return out;
}
