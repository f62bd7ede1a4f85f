import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createCaCertificate } from '../ca-certificate.js';
import { pemEncode } from '../encoding.js';
import { keyObjectSigner, type Signer } from '../signer.js';

/** Test-only fixtures: the two CA kinds every end-to-end check runs against. */

export type CaKind = 'ec-p256' | 'rsa-3072';
export const CA_KINDS: readonly CaKind[] = ['ec-p256', 'rsa-3072'];

export interface TestCa {
  readonly kind: CaKind;
  readonly der: Buffer;
  readonly pem: string;
  readonly privateKey: KeyObject;
  readonly signer: Signer;
}

export const HOUR = 3600_000;
export const DAY = 24 * HOUR;

export function ecKey(curve: 'P-256' | 'P-384' | 'P-521' = 'P-256'): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: curve }).privateKey;
}

export function rsaKey(bits = 2048): KeyObject {
  return generateKeyPairSync('rsa', { modulusLength: bits }).privateKey;
}

export function keyFor(kind: CaKind): KeyObject {
  return kind === 'ec-p256' ? ecKey('P-256') : rsaKey(3072);
}

export function spki(key: KeyObject): Buffer {
  return createPublicKey(key).export({ type: 'spki', format: 'der' });
}

export async function makeCa(
  kind: CaKind,
  now: Date = new Date(),
  subject = `CN=Ampora Test ${kind} CA, O=Ampora`,
): Promise<TestCa> {
  const privateKey = keyFor(kind);
  const signer = keyObjectSigner(privateKey);
  const der = await createCaCertificate({
    signer,
    subject,
    notBefore: new Date(now.getTime() - HOUR),
    notAfter: new Date(now.getTime() + 3650 * DAY),
  });
  return { kind, der, pem: pemEncode(der, 'CERTIFICATE'), privateKey, signer };
}
