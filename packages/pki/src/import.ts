import { createPrivateKey, type KeyObject } from 'node:crypto';
import {
  caRefusal,
  isCa,
  isIssuedBy,
  keyUsageFlags,
  parseCertificate,
  type ParsedCertificate,
} from './certificate.js';
import { pemDecodeAll } from './encoding.js';
import { PkiError } from './errors.js';
import { readPkcs12 } from './pkcs12.js';
import { assertAcceptableKey, spkiOf, type KeyAlgorithm } from './public-key.js';

export type ImportExternalCaInput =
  | {
      /** The CA certificate and, optionally, the certificates above it, in any order. */
      readonly certPem: string;
      /** PKCS#8, PKCS#1 or SEC1 PEM; encrypted PKCS#8 needs `keyPassphrase`. */
      readonly keyPem: string;
      readonly keyPassphrase?: string;
    }
  | { readonly pkcs12: Buffer; readonly password: string };

export interface ImportExternalCaOptions {
  /** When given, a CA certificate that has expired by then is refused. */
  readonly now?: Date;
}

export interface ImportedCa {
  /** DER, the CA certificate first, then each issuer up the chain. */
  readonly chain: Buffer[];
  readonly privateKey: KeyObject;
  readonly keyAlgorithm: KeyAlgorithm;
}

function loadPemInput(
  certPem: string,
  keyPem: string,
  passphrase?: string,
): { certs: Buffer[]; keys: KeyObject[] } {
  const certs = pemDecodeAll(certPem)
    .filter((block) => block.label === 'CERTIFICATE')
    .map((block) => block.der);
  let key: KeyObject;
  try {
    key = createPrivateKey({
      key: keyPem,
      format: 'pem',
      ...(passphrase !== undefined ? { passphrase } : {}),
    });
  } catch (cause) {
    const encrypted = /ENCRYPTED/.test(keyPem);
    throw new PkiError(encrypted ? 'bad_password' : 'malformed', 'private key cannot be read', { cause });
  }
  return { certs, keys: [key] };
}

function assertCa(cert: ParsedCertificate, what: string): void {
  const refusal = caRefusal(isCa(cert), keyUsageFlags(cert), 'keyCertSign');
  if (refusal === 'not_a_ca') throw new PkiError('not_a_ca', `${what} is not a CA certificate`);
  if (refusal === 'usage') throw new PkiError('not_a_ca', `${what} may not sign certificates`);
}

/**
 * Imports an existing CA (PEM, or PKCS#12 with EC or RSA keys): the key must match
 * the CA certificate, the certificate must be a CA, the key must meet the key
 * policy, and any further certificates must form its chain upward.
 */
export function importExternalCa(
  input: ImportExternalCaInput,
  options: ImportExternalCaOptions = {},
): ImportedCa {
  const { certs, keys } =
    'pkcs12' in input
      ? (({ certificates, privateKeys }) => ({ certs: certificates, keys: privateKeys }))(
          readPkcs12(input.pkcs12, input.password),
        )
      : loadPemInput(input.certPem, input.keyPem, input.keyPassphrase);
  if (keys.length !== 1)
    throw new PkiError('invalid_argument', `expected one private key, found ${keys.length}`);
  if (certs.length === 0) throw new PkiError('invalid_argument', 'no certificate found');
  const privateKey = keys[0]!;
  const keySpki = spkiOf(privateKey);
  const keyAlgorithm = assertAcceptableKey(keySpki, { allowEd25519: true });

  const parsed = certs.map((der) => parseCertificate(der));
  const caIndex = parsed.findIndex((cert) => cert.spkiDer.equals(keySpki));
  if (caIndex < 0) throw new PkiError('key_mismatch', 'the private key matches none of the certificates');
  const ca = parsed[caIndex]!;
  assertCa(ca, 'the certificate of the key');
  if (options.now && ca.asn1.tbsCertificate.validity.notAfter.getTime().getTime() <= options.now.getTime()) {
    throw new PkiError('invalid_argument', 'the CA certificate has expired');
  }

  const remaining = parsed.filter((_, i) => i !== caIndex);
  const chain: ParsedCertificate[] = [ca];
  for (let current = ca; !current.issuerDer.equals(current.subjectDer);) {
    const parentIndex = remaining.findIndex((candidate) => isIssuedBy(current, candidate));
    if (parentIndex < 0) break; // The chain may stop below a root the relying parties already hold.
    const parent = remaining.splice(parentIndex, 1)[0]!;
    assertCa(parent, 'an issuer in the chain');
    chain.push(parent);
    current = parent;
  }
  if (remaining.length > 0)
    throw new PkiError('invalid_chain', 'some certificates are not part of the CA chain');
  const top = chain[chain.length - 1]!;
  if (top.issuerDer.equals(top.subjectDer) && !isIssuedBy(top, top)) {
    throw new PkiError('bad_signature', 'self-signed certificate signature does not verify');
  }
  return { chain: chain.map((cert) => cert.der), privateKey, keyAlgorithm };
}
