import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  CertStatus,
  KeyHash,
  OCSPResponse,
  OCSPResponseStatus,
  ResponderID,
  ResponseBytes,
  ResponseData,
  RevokedInfo,
  SingleResponse,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
} from '@peculiar/asn1-ocsp';
import {
  CRLReason,
  Extension,
  ExtendedKeyUsage,
  id_ce_extKeyUsage,
  id_kp_OCSPSigning,
} from '@peculiar/asn1-x509';
import { algorithmIdentifierDer } from './algorithms.js';
import {
  assertSignerMatches,
  isIssuedBy,
  parseCertificate,
  parseExtension,
  wholeSeconds,
  type ParsedCertificate,
} from './certificate.js';
import { bitString, sequence, tlv } from './der.js';
import type { DerOrPem } from './encoding.js';
import { PkiError } from './errors.js';
import { certIdToAsn1, type OcspCertId } from './ocsp-cert-id.js';
import { keyIdentifier } from './public-key.js';
import { reasonCode, type RevocationReason } from './revocation-reason.js';
import type { Signer } from './signer.js';

export type OcspCertStatus = 'good' | 'revoked' | 'unknown';

export interface OcspSingleResponse {
  /** Echo the CertID from the request as parsed. */
  readonly certId: OcspCertId;
  readonly status: OcspCertStatus;
  /** Required when `status` is `revoked`. */
  readonly revokedAt?: Date;
  readonly reason?: RevocationReason;
  readonly thisUpdate: Date;
  readonly nextUpdate?: Date;
}

/** What one signed response says; everything else comes from the prepared responder. */
export interface OcspResponseContent {
  readonly responses: readonly OcspSingleResponse[];
  /** The request's nonce as returned by `parseOcspRequest`, echoed verbatim. */
  readonly nonce?: Buffer;
  readonly producedAt: Date;
}

export interface OcspResponderParams {
  /** The delegated responder (EKU ocspSigning, issued by `issuerCert`) or the CA itself. */
  readonly responder: { readonly cert: DerOrPem; readonly signer: Signer };
  readonly issuerCert: DerOrPem;
}

export type BuildOcspResponseParams = OcspResponderParams & OcspResponseContent;

/** A responder whose certificates were parsed and checked once: it only builds and signs. */
export interface PreparedOcspResponder {
  sign(content: OcspResponseContent): Promise<Buffer>;
}

export type OcspErrorStatus = Exclude<keyof typeof OCSPResponseStatus, 'successful'>;

function singleResponse(response: OcspSingleResponse): SingleResponse {
  let certStatus: CertStatus;
  if (response.status === 'good') {
    certStatus = new CertStatus({ good: null });
  } else if (response.status === 'unknown') {
    certStatus = new CertStatus({ unknown: null });
  } else if (response.status === 'revoked') {
    if (!response.revokedAt) throw new PkiError('invalid_argument', 'a revoked status needs revokedAt');
    certStatus = new CertStatus({
      revoked: new RevokedInfo({
        revocationTime: wholeSeconds(response.revokedAt),
        ...(response.reason && response.reason !== 'unspecified'
          ? { revocationReason: new CRLReason(reasonCode(response.reason)) }
          : {}),
      }),
    });
  } else {
    throw new PkiError('invalid_argument', `unknown OCSP status ${String(response.status)}`);
  }
  const thisUpdate = wholeSeconds(response.thisUpdate);
  const nextUpdate = response.nextUpdate ? wholeSeconds(response.nextUpdate) : undefined;
  if (nextUpdate && nextUpdate.getTime() <= thisUpdate.getTime()) {
    throw new PkiError('invalid_argument', 'nextUpdate must be after thisUpdate');
  }
  return new SingleResponse({
    certID: certIdToAsn1(response.certId),
    certStatus,
    thisUpdate,
    ...(nextUpdate ? { nextUpdate } : {}),
  });
}

/** A delegated responder must be issued directly by the CA and carry EKU ocspSigning (RFC 6960 §4.2.2.2). */
function assertResponderAuthorized(responder: ParsedCertificate, issuerCert: DerOrPem): void {
  const issuer = parseCertificate(issuerCert);
  if (responder.der.equals(issuer.der)) return;
  if (!isIssuedBy(responder, issuer)) {
    throw new PkiError('invalid_chain', 'responder certificate is not issued by the CA');
  }
  const eku = parseExtension(responder, id_ce_extKeyUsage, ExtendedKeyUsage) ?? [];
  if (!eku.includes(id_kp_OCSPSigning)) {
    throw new PkiError('invalid_argument', 'responder certificate lacks EKU ocspSigning');
  }
}

/**
 * Checks the responder against its CA once (its key, the CA's signature on it, its EKU) and returns
 * what signs responses with it: every request would otherwise parse and verify the same two
 * certificates again, which costs far more than the signature itself. Throws {@link PkiError}.
 */
export function prepareOcspResponder(params: OcspResponderParams): PreparedOcspResponder {
  const responder = parseCertificate(params.responder.cert);
  const { signer } = params.responder;
  assertSignerMatches(responder, signer);
  assertResponderAuthorized(responder, params.issuerCert);
  const responderId = new ResponderID({ byKey: new KeyHash(keyIdentifier(responder.spkiDer)) });
  const algorithm = algorithmIdentifierDer(signer.algorithm);
  const certs = tlv(0xa0, sequence(responder.der));
  return {
    async sign(content) {
      if (content.responses.length === 0) throw new PkiError('invalid_argument', 'no responses to sign');
      const data = new ResponseData({
        responderID: responderId,
        producedAt: wholeSeconds(content.producedAt),
        responses: content.responses.map(singleResponse),
        ...(content.nonce
          ? {
              responseExtensions: [
                new Extension({
                  extnID: id_pkix_ocsp_nonce,
                  critical: false,
                  extnValue: new OctetString(content.nonce),
                }),
              ],
            }
          : {}),
      });
      const tbs = Buffer.from(AsnConvert.serialize(data));
      const signature = await signer.sign(tbs);
      const basic = sequence(tbs, algorithm, bitString(signature), certs);
      const response = new OCSPResponse({
        responseStatus: OCSPResponseStatus.successful,
        responseBytes: new ResponseBytes({
          responseType: id_pkix_ocsp_basic,
          response: new OctetString(basic),
        }),
      });
      return Buffer.from(AsnConvert.serialize(response));
    },
  };
}

/**
 * A successful OCSPResponse (DER) wrapping a BasicOCSPResponse signed by the
 * responder, with the responder certificate in `certs` and responderID byKey.
 */
export async function buildOcspResponse(params: BuildOcspResponseParams): Promise<Buffer> {
  return prepareOcspResponder(params).sign(params);
}

/** An unsigned OCSPResponse carrying only an error status. */
export function ocspErrorResponse(status: OcspErrorStatus): Buffer {
  // Indexed loosely: callers in plain JS may pass anything.
  const code = (OCSPResponseStatus as unknown as Record<string, number | undefined>)[status];
  if (code === undefined || code === OCSPResponseStatus.successful) {
    throw new PkiError('invalid_argument', `not an OCSP error status: ${String(status)}`);
  }
  return Buffer.from(AsnConvert.serialize(new OCSPResponse({ responseStatus: code })));
}
