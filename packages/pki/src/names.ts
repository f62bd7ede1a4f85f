import 'reflect-metadata';
import { Name as X509Name } from '@peculiar/x509';
import { PkiError } from './errors.js';

/** OIDs for attribute names @peculiar/x509 does not know by default. */
const EXTRA_NAMES = { UID: '0.9.2342.19200300.100.1.1' };

/**
 * A distinguished name as text, most significant RDN last as openssl prints
 * it, e.g. `CN=Ampora Root CA, O=Acme`. `UID=` is understood too.
 */
export type DistinguishedName = string;

/** DER of a Name from its text form; an empty string is the empty Name. */
export function encodeName(name: DistinguishedName): Buffer {
  const parsed = new X509Name(name, EXTRA_NAMES);
  const der = Buffer.from(parsed.toArrayBuffer());
  // The parser quietly returns an empty Name for text without `type=value`.
  if (name.trim() !== '' && parsed.toJSON().length === 0) {
    throw new PkiError('invalid_argument', `"${name}" is not a distinguished name`);
  }
  return der;
}

/** A DER Name decoded once: its text, and the values of one attribute (`CN`, `UID`, or an OID). */
export interface DecodedName {
  toString(): string;
  getField(field: string): string[];
}

export function decodeName(der: Uint8Array): DecodedName {
  return new X509Name(Buffer.from(der), EXTRA_NAMES);
}

export function nameToString(der: Uint8Array): string {
  return decodeName(der).toString();
}
