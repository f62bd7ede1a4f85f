import { createHash, randomBytes as nodeRandomBytes } from 'node:crypto';
import { PkiError } from './errors.js';

/** A DER buffer, or PEM text of the expected kind. */
export type DerOrPem = Buffer | Uint8Array | string;

export interface PemBlock {
  readonly label: string;
  readonly der: Buffer;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

export function pemEncode(der: Uint8Array, label: string): string {
  const body = Buffer.from(der)
    .toString('base64')
    .replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

/** Every PEM block in the text, in order. Text between blocks is ignored. */
export function pemDecodeAll(pem: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of pem.matchAll(PEM_BLOCK)) {
    const body = match[2]!.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) {
      throw new PkiError('malformed', `PEM block ${match[1]} is not base64`);
    }
    blocks.push({ label: match[1]!, der: Buffer.from(body, 'base64') });
  }
  return blocks;
}

/** The first PEM block, optionally required to carry one of the given labels. */
export function pemDecode(pem: string, ...labels: string[]): Buffer {
  const blocks = pemDecodeAll(pem);
  const block = labels.length === 0 ? blocks[0] : blocks.find((b) => labels.includes(b.label));
  if (!block) {
    throw new PkiError('malformed', `no PEM block${labels.length ? ` labelled ${labels.join(' or ')}` : ''}`);
  }
  return block.der;
}

/** Accepts DER bytes or PEM text (with one of the labels) and returns DER. */
export function toDer(input: DerOrPem, ...labels: string[]): Buffer {
  if (typeof input === 'string') return pemDecode(input, ...labels);
  return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
}

/** SHA-256 over the certificate's DER, lowercase hex: the agent identity key. */
export function fingerprintSha256(certDer: Uint8Array): string {
  return createHash('sha256').update(certDer).digest('hex');
}

/** Lowercase hex of a non-negative serial, padded to whole bytes. */
export function serialToHex(serial: bigint): string {
  if (serial < 0n) throw new PkiError('invalid_argument', 'serial must not be negative');
  const hex = serial.toString(16);
  return hex.length % 2 === 1 ? `0${hex}` : hex;
}

/** Parses hex with or without `0x`, colons or spaces (openssl prints `AB:CD`). */
export function serialFromHex(hex: string): bigint {
  const clean = hex.trim().replace(/^0x/i, '').replace(/[:\s]/g, '');
  if (!/^[0-9a-fA-F]+$/.test(clean)) throw new PkiError('invalid_argument', 'serial is not hex');
  return BigInt(`0x${clean}`);
}

/** Accepts a serial as BigInt or hex, the two forms callers hold. */
export function normalizeSerial(serial: bigint | string): bigint {
  return typeof serial === 'bigint' ? serial : serialFromHex(serial);
}

/**
 * A positive 128-bit serial with the high bit clear, so its DER encoding needs no
 * sign byte and stays within the 20 octets RFC 5280 allows.
 */
export function randomSerial(randomBytes: (size: number) => Buffer = nodeRandomBytes): bigint {
  for (;;) {
    const bytes = Buffer.from(randomBytes(16));
    if (bytes.length !== 16) throw new PkiError('invalid_argument', 'random source returned the wrong size');
    bytes[0] = bytes[0]! & 0x7f;
    const serial = BigInt(`0x${bytes.toString('hex')}`);
    if (serial !== 0n) return serial;
  }
}

/**
 * Concatenated CERTIFICATE blocks, the form TLS stacks take as a CA file. Each certificate appears
 * once, where it first occurs: keys imported under the same external root share their chain.
 */
export function trustBundlePem(certs: readonly DerOrPem[]): string {
  const seen = new Set<string>();
  let pem = '';
  for (const cert of certs) {
    const der = toDer(cert, 'CERTIFICATE');
    const fingerprint = fingerprintSha256(der);
    if (seen.has(fingerprint)) continue;
    seen.add(fingerprint);
    pem += pemEncode(der, 'CERTIFICATE');
  }
  return pem;
}
