import { AsnConvert } from '@peculiar/asn1-schema';
import { CRLReason, Extension, Time, id_ce_cRLReasons } from '@peculiar/asn1-x509';
import { OctetString } from '@peculiar/asn1-schema';
import { algorithmIdentifierDer } from './algorithms.js';
import { wholeSeconds } from './certificate.js';
import { bitString, integer, sequence, tlv } from './der.js';
import { normalizeSerial, pemEncode } from './encoding.js';
import { PkiError } from './errors.js';
import { authorityKeyIdentifier, crlNumber, encodeExtensions } from './extensions.js';
import { checkedIssuer, type Issuer } from './issuer.js';
import { reasonCode, type RevocationReason } from './revocation-reason.js';

export interface RevokedEntry {
  /** BigInt, or hex as stored. */
  readonly serial: bigint | string;
  readonly revokedAt: Date;
  readonly reason?: RevocationReason;
}

export interface BuildCrlParams {
  /** A `PreparedIssuer` saves parsing its certificate for every CRL. */
  readonly issuer: Issuer;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  /** Monotonic per issuer; allocate it under a database lock when several replicas publish. */
  readonly crlNumber: bigint;
  readonly revoked: readonly RevokedEntry[];
}

function timeDer(date: Date): Buffer {
  return Buffer.from(AsnConvert.serialize(new Time(wholeSeconds(date))));
}

function entryDer(entry: RevokedEntry): Buffer {
  const serial = normalizeSerial(entry.serial);
  if (serial <= 0n) throw new PkiError('invalid_argument', 'revoked serial must be positive');
  const parts = [integer(serial), timeDer(entry.revokedAt)];
  // RFC 5280 §5.3.1: omit the reason rather than write `unspecified`.
  if (entry.reason && entry.reason !== 'unspecified') {
    const reason = new Extension({
      extnID: id_ce_cRLReasons,
      critical: false,
      extnValue: new OctetString(AsnConvert.serialize(new CRLReason(reasonCode(entry.reason)))),
    });
    parts.push(sequence(encodeExtensions([reason])));
  }
  return sequence(...parts);
}

/**
 * A v2 CRL with CRL Number and AKI, signed by the issuer's signer. Pure: the caller
 * supplies time, number and entries, and stores the DER it gets back.
 */
export async function buildCrl(params: BuildCrlParams): Promise<Buffer> {
  const issuer = checkedIssuer(params.issuer, 'cRLSign');
  const { signer } = params.issuer;
  const thisUpdate = wholeSeconds(params.thisUpdate);
  const nextUpdate = wholeSeconds(params.nextUpdate);
  if (nextUpdate.getTime() <= thisUpdate.getTime()) {
    throw new PkiError('invalid_argument', 'nextUpdate must be after thisUpdate');
  }
  const algorithm = algorithmIdentifierDer(signer.algorithm);
  const entries = params.revoked.map(entryDer);
  const tbs = sequence(
    integer(1n), // v2
    algorithm,
    issuer.parsed.subjectDer,
    timeDer(thisUpdate),
    timeDer(nextUpdate),
    // An empty list is omitted, not written as an empty SEQUENCE.
    ...(entries.length > 0 ? [sequence(...entries)] : []),
    tlv(
      0xa0,
      sequence(encodeExtensions([authorityKeyIdentifier(issuer.keyIdentifier), crlNumber(params.crlNumber)])),
    ),
  );
  const signature = await signer.sign(tbs);
  return sequence(tbs, algorithm, bitString(signature));
}

/** PEM with the `X509 CRL` label, the only one openssl accepts. */
export function crlPem(der: Uint8Array): string {
  return pemEncode(der, 'X509 CRL');
}
