import { checkValidity, signCertificate } from './certificate.js';
import { randomSerial } from './encoding.js';
import { PkiError } from './errors.js';
import { authorityKeyIdentifier, basicConstraints, keyUsage, subjectKeyIdentifier } from './extensions.js';
import { encodeName, type DistinguishedName } from './names.js';
import { assertAcceptableKey, keyIdentifier } from './public-key.js';
import type { Signer } from './signer.js';

export interface CreateCaCertificateParams {
  readonly signer: Signer;
  readonly subject: DistinguishedName;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Defaults to {@link randomSerial}. */
  readonly serial?: bigint;
  /** How many intermediate CAs may follow; unlimited when omitted. */
  readonly pathLen?: number;
}

/** A self-signed root: basicConstraints CA (critical), keyCertSign + cRLSign, SKI = AKI. Returns DER. */
export async function createCaCertificate(params: CreateCaCertificateParams): Promise<Buffer> {
  const { signer } = params;
  assertAcceptableKey(signer.publicKeySpkiDer, { allowEd25519: true });
  if (params.subject.trim() === '') throw new PkiError('invalid_argument', 'a CA needs a subject name');
  const subjectDer = encodeName(params.subject);
  const keyId = keyIdentifier(signer.publicKeySpkiDer);
  const { notBefore, notAfter } = checkValidity(params.notBefore, params.notAfter);
  return signCertificate({
    serial: params.serial ?? randomSerial(),
    signer,
    issuerDer: subjectDer,
    subjectDer,
    spkiDer: signer.publicKeySpkiDer,
    notBefore,
    notAfter,
    extensions: [
      basicConstraints(true, params.pathLen),
      keyUsage(['keyCertSign', 'cRLSign']),
      subjectKeyIdentifier(keyId),
      authorityKeyIdentifier(keyId),
    ],
  });
}
