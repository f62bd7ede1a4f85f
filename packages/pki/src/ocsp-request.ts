import { AsnConvert } from '@peculiar/asn1-schema';
import { OCSPRequest, id_pkix_ocsp_nonce } from '@peculiar/asn1-ocsp';
import { PkiError } from './errors.js';
import { certIdFromAsn1, type OcspCertId } from './ocsp-cert-id.js';

export interface ParsedOcspRequest {
  readonly requests: OcspCertId[];
  /**
   * The nonce extension's value exactly as sent (per RFC 8954 the DER of an OCTET
   * STRING); hand it back unchanged to {@link buildOcspResponse} to echo it.
   */
  readonly nonce?: Buffer;
}

export interface ParseOcspRequestOptions {
  /** Upper bound on CertIDs in one request; larger requests are malformed. Default 16. */
  readonly maxRequests?: number;
}

/** RFC 8954 allows up to 32 nonce octets; two more for the inner OCTET STRING header. */
const MAX_NONCE_EXTENSION_BYTES = 34;
const MAX_REQUEST_BYTES = 16 * 1024;

/**
 * Reads an OCSPRequest (DER, as POSTed or base64-decoded from a GET path). A signature
 * on the request is ignored: answers are public. Throws {@link PkiError} `malformed`.
 */
export function parseOcspRequest(der: Uint8Array, options: ParseOcspRequestOptions = {}): ParsedOcspRequest {
  const maxRequests = options.maxRequests ?? 16;
  if (der.length > MAX_REQUEST_BYTES) throw new PkiError('malformed', 'OCSP request is too large');
  let request: OCSPRequest;
  try {
    request = AsnConvert.parse(Buffer.from(der), OCSPRequest);
  } catch (cause) {
    throw new PkiError('malformed', 'not an OCSP request', { cause });
  }
  const list = request.tbsRequest.requestList;
  if (list.length === 0) throw new PkiError('malformed', 'OCSP request names no certificate');
  if (list.length > maxRequests)
    throw new PkiError('malformed', `OCSP request names more than ${maxRequests} certificates`);
  const nonceExtension = request.tbsRequest.requestExtensions?.find((e) => e.extnID === id_pkix_ocsp_nonce);
  const nonce = nonceExtension ? Buffer.from(nonceExtension.extnValue.buffer) : undefined;
  if (nonce && (nonce.length === 0 || nonce.length > MAX_NONCE_EXTENSION_BYTES)) {
    throw new PkiError('malformed', 'OCSP nonce has an unacceptable length');
  }
  return {
    requests: list.map((r) => certIdFromAsn1(r.reqCert)),
    ...(nonce ? { nonce } : {}),
  };
}
