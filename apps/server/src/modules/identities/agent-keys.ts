import { uuidToString, type ValidAgentToServer } from '@ampora/opamp';
import { generateKeyPairForAgent, isPkiError, parseAndVerifyCsr, type AgentKeySpec } from '@ampora/pki';

/** The public key a certificate is issued for, or why the agent's request for one was refused. */
export type AgentKey =
  | { ok: true; spki: Buffer; privateKeyPem?: string; origin: 'csr' | 'server' }
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

/** The agent's public key: from its verified CSR, or from a key pair made here. */
export async function agentKeyFor(msg: ValidAgentToServer, serverKey: AgentKeySpec): Promise<AgentKey> {
  const csrBytes = msg.connectionSettingsRequest?.opamp?.certificateRequest?.csr;
  if (!csrBytes?.length) {
    const key = await generateKeyPairForAgent(serverKey);
    return {
      ok: true,
      spki: key.publicKeySpkiDer,
      privateKeyPem: key.privateKeyPkcs8Pem,
      origin: 'server',
    };
  }
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
  return { ok: true, spki: csr.publicKeySpkiDer, origin: 'csr' };
}
