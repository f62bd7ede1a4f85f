import { generateKeyPair } from 'node:crypto';
import { PkiError } from './errors.js';

/** Key types the server generates for agents that cannot make a CSR. */
export type AgentKeySpec =
  | { readonly type: 'ec'; readonly curve: 'P-256' | 'P-384' }
  | { readonly type: 'rsa'; readonly bits: 2048 | 3072 | 4096 };

export interface GeneratedAgentKey {
  /** Unencrypted PKCS#8: it travels to the agent inside the TLS-protected OpAMP message. */
  readonly privateKeyPkcs8Pem: string;
  readonly publicKeySpkiDer: Buffer;
}

/** A fresh agent key pair; the server issues the certificate for `publicKeySpkiDer`. */
export function generateKeyPairForAgent(spec: AgentKeySpec): Promise<GeneratedAgentKey> {
  const encoding = {
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  } as const;
  return new Promise((resolve, reject) => {
    const done = (error: Error | null, publicKey: Buffer, privateKey: string) =>
      error ? reject(error) : resolve({ privateKeyPkcs8Pem: privateKey, publicKeySpkiDer: publicKey });
    if (spec.type === 'ec' && (spec.curve === 'P-256' || spec.curve === 'P-384')) {
      generateKeyPair('ec', { namedCurve: spec.curve, ...encoding }, done);
    } else if (spec.type === 'rsa' && [2048, 3072, 4096].includes(spec.bits)) {
      generateKeyPair('rsa', { modulusLength: spec.bits, publicExponent: 0x10001, ...encoding }, done);
    } else {
      reject(new PkiError('invalid_argument', 'unsupported agent key spec'));
    }
  });
}
