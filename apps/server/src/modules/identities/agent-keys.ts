import { uuidToString, type ValidAgentToServer } from '@ampora/opamp';
import {
  generateKeyPairForAgent,
  isPkiError,
  parseAndVerifyCsr,
  type AgentKeySpec,
  type KeyAlgorithm,
} from '@ampora/pki';

/** The public key a certificate is issued for, or why the agent's request for one was refused. */
export type AgentKey =
  | {
      ok: true;
      spki: Buffer;
      privateKeyPem?: string;
      origin: 'csr' | 'server';
      /** The key policy's verdict on a CSR's key, so issuing need not check it again. */
      keyAlgorithm?: KeyAlgorithm;
    }
  | { ok: false; reason: string; message: string };

/** Why a CSR was refused, in words an operator can act on (never the raw parser message). */
function csrProblem(err: unknown): { reason: string; message: string } {
  if (isPkiError(err, 'bad_signature'))
    return { reason: 'csr_bad_signature', message: 'the certificate request signature does not verify' };
  if (isPkiError(err, 'weak_key'))
    return {
      reason: 'csr_weak_key',
      message: 'the certificate request key is too weak (RSA ≥ 2048, P-256 or P-384)',
    };
  if (isPkiError(err, 'unsupported_algorithm'))
    return {
      reason: 'csr_unsupported_algorithm',
      message: 'the certificate request uses an unsupported algorithm',
    };
  return { reason: 'csr_malformed', message: 'the certificate request is not a PEM PKCS#10 request' };
}

/**
 * The public key in the agent's CSR, verified, or why it was refused; `undefined` when the message
 * carries no CSR.
 */
export function csrKeyFor(msg: ValidAgentToServer): AgentKey | undefined {
  const csrBytes = msg.connectionSettingsRequest?.opamp?.certificateRequest?.csr;
  if (!csrBytes?.length) return undefined;
  let csr;
  try {
    csr = parseAndVerifyCsr(Buffer.from(csrBytes).toString('utf8'));
  } catch (err) {
    return { ok: false, ...csrProblem(err) };
  }
  // A CSR naming an instance may only ask for a certificate for the agent that sends it.
  const messageUid = uuidToString(msg.instanceUid);
  if (csr.instanceUid && csr.instanceUid !== messageUid) {
    return {
      ok: false,
      reason: 'csr_uid_mismatch',
      message: `the certificate request names instance_uid ${csr.instanceUid}, but the message carries ${messageUid}`,
    };
  }
  return { ok: true, spki: csr.publicKeySpkiDer, origin: 'csr', keyAlgorithm: csr.keyAlgorithm };
}

/**
 * The agent's public key at enrollment: from its verified CSR, or from a key pair made here. Only
 * enrollment makes a key for an agent that sent no CSR; renewal on request needs the CSR.
 */
export async function agentKeyFor(msg: ValidAgentToServer, serverKey: AgentKeySpec): Promise<AgentKey> {
  const fromCsr = csrKeyFor(msg);
  if (fromCsr) return fromCsr;
  const key = await generateKeyPairForAgent(serverKey);
  return { ok: true, spki: key.publicKeySpkiDer, privateKeyPem: key.privateKeyPkcs8Pem, origin: 'server' };
}
