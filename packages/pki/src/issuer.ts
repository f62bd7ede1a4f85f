import {
  caRefusal,
  isCa,
  issuerKeyIdentifier,
  keyUsageFlags,
  parseCertificate,
  type ParsedCertificate,
} from './certificate.js';
import type { DerOrPem } from './encoding.js';
import { PkiError } from './errors.js';
import type { Signer } from './signer.js';

/** The CA that signs: its certificate and a signer holding its key. */
export interface Issuer {
  readonly cert: DerOrPem;
  readonly signer: Signer;
}

/** What the builders read from an issuer certificate, worked out once per issuer. */
export interface IssuerFacts {
  /** The certificate and signer these facts were computed for. */
  readonly cert: DerOrPem;
  readonly signer: Signer;
  readonly parsed: ParsedCertificate;
  /** What a child's AKI carries. */
  readonly keyIdentifier: Buffer;
  readonly isCa: boolean;
  readonly keyUsage: number | undefined;
  readonly signerMatches: boolean;
}

/**
 * An issuer whose certificate has been parsed once. A CA signs many leaves and CRLs from the
 * same certificate; parsing it per signature costs about a millisecond each time.
 */
export interface PreparedIssuer extends Issuer {
  readonly prepared: IssuerFacts;
}

function issuerFacts(issuer: Issuer): IssuerFacts {
  const parsed = parseCertificate(issuer.cert);
  return {
    cert: issuer.cert,
    signer: issuer.signer,
    parsed,
    keyIdentifier: issuerKeyIdentifier(parsed),
    isCa: isCa(parsed),
    keyUsage: keyUsageFlags(parsed),
    signerMatches: parsed.spkiDer.equals(issuer.signer.publicKeySpkiDer),
  };
}

/** Parses the issuer certificate once; the checks still run (cheaply) at every use. */
export function prepareIssuer(issuer: Issuer): PreparedIssuer {
  return { cert: issuer.cert, signer: issuer.signer, prepared: issuerFacts(issuer) };
}

/**
 * The facts of `issuer`, checked for `usage`: reused when they were prepared for this very
 * certificate and signer (a copy with another signer is prepared afresh), else computed.
 */
export function checkedIssuer(issuer: Issuer, usage: 'keyCertSign' | 'cRLSign'): IssuerFacts {
  const prepared = (issuer as Partial<PreparedIssuer>).prepared;
  const facts =
    prepared && prepared.cert === issuer.cert && prepared.signer === issuer.signer
      ? prepared
      : issuerFacts(issuer);
  // Same order as ever: not a CA, then the key usage, then the signer's key.
  const refusal = caRefusal(facts.isCa, facts.keyUsage, usage);
  if (refusal === 'not_a_ca') throw new PkiError('not_a_ca', 'issuer certificate is not a CA');
  if (refusal === 'usage') throw new PkiError('not_a_ca', `issuer key usage lacks ${usage}`);
  if (!facts.signerMatches) {
    throw new PkiError('key_mismatch', 'signer key does not match the certificate');
  }
  return facts;
}
