/**
 * The certificate side of a simulated agent: how it authenticates before
 * enrollment and after, the CSR flow, taking a certificate offered in
 * connection settings, and renewal.
 */
import { createPublicKey, X509Certificate } from 'node:crypto';
import {
  ConnectionSettingsRequestSchema,
  create,
  type ConnectionSettingsOffers,
  type ConnectionSettingsRequest,
} from '@ampora/opamp';
import type { SimAgent } from './agent';
import { createCsr, credentialsOf, generateAgentKey, type AgentKey } from './agent-credentials';
import type { SimAgentOptions } from './agent-options';
import type { ConnectionOptions } from './transport';

/** An enrolled agent connects with its certificate (mTLS); one still to enroll, with its bootstrap token. */
export function initialConnection(options: SimAgentOptions): ConnectionOptions {
  const connection: ConnectionOptions = {
    url: options.url,
    headers: options.headers,
    tls: options.tls,
    localAddress: options.localAddress,
  };
  if (options.credentials) {
    connection.tls = {
      ...connection.tls,
      cert: options.credentials.certPem,
      key: options.credentials.keyPem,
    };
  } else if (options.bootstrapToken) {
    connection.headers = {
      ...connection.headers,
      Authorization: `Bearer ${options.bootstrapToken}`,
    };
  }
  return connection;
}

/** What the certificate side uses of its agent; `connection` and `stopping` are private to it. */
export interface CertificateDeps {
  agent: Pick<
    SimAgent,
    'options' | 'instanceUid' | 'credentials' | 'reconnect' | 'renewCertificate' | 'emit'
  >;
  connection: () => ConnectionOptions;
  stopping: () => boolean;
}

export interface AgentCertificates {
  /**
   * The agent enrolls through the CSR flow and has no CSR out yet, so its next connection must
   * carry one; a reconnect while one is outstanding keeps that key.
   */
  readonly csrDue: boolean;
  /** Makes a fresh key (which never leaves the agent) and the request that carries its CSR. */
  prepareCsr(): Promise<ConnectionSettingsRequest>;
  adopt(offers: ConnectionSettingsOffers): Promise<boolean>;
  cancelRenewal(): void;
}

/** CSRs whose keys are kept while they wait for an answer; older ones are given up. */
const MAX_OUTSTANDING_CSRS = 4;

export function createAgentCertificates({ agent, connection, stopping }: CertificateDeps): AgentCertificates {
  /**
   * Keys of CSRs sent and not yet answered, newest last. More than one can be out: a reconnect
   * (to take a certificate the server offered on its own) can drop the reply to a CSR, and the
   * agent asks again with a new one; a late answer to the earlier one is still taken.
   */
  const csrKeys: AgentKey[] = [];
  let renewTimer: NodeJS.Timeout | undefined;

  async function prepareCsr(): Promise<ConnectionSettingsRequest> {
    const csrKey = await generateAgentKey(agent.options.keyType ?? 'ec');
    csrKeys.push(csrKey);
    if (csrKeys.length > MAX_OUTSTANDING_CSRS) csrKeys.shift();
    const csr = await createCsr(agent.instanceUid, csrKey, { claimUid: agent.options.csrClaimUid });
    return create(ConnectionSettingsRequestSchema, {
      opamp: { certificateRequest: { csr: new TextEncoder().encode(csr) } },
    });
  }

  /** The work behind {@link SimAgent.adoptCertificate}. */
  async function adopt(offers: ConnectionSettingsOffers): Promise<boolean> {
    const offered = offers.opamp?.certificate;
    if (!offered || offered.cert.length === 0) return false;
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    const certPem = decode(offered.cert);
    if (certPem === agent.credentials?.certPem) return false;
    const serverKey = offered.privateKey.length > 0;
    const keyPem = serverKey ? decode(offered.privateKey) : keyForOfferedCertificate(certPem);
    const next = credentialsOf(certPem, keyPem, decode(offered.caCert), serverKey ? 'server' : 'csr');
    const current = connection();
    const previous = { ...current };
    const headers = Object.fromEntries(
      Object.entries(current.headers ?? {}).filter(([name]) => name.toLowerCase() !== 'authorization'),
    );
    const serverCa = offers.opamp?.tls?.caPemContents;
    const tls = { ...current.tls, cert: certPem, key: keyPem, ...(serverCa ? { ca: serverCa } : {}) };
    const url = offers.opamp?.destinationEndpoint || current.url;
    try {
      await agent.reconnect({ url, headers, tls });
    } catch (err) {
      // Keep what worked: the old certificate stays valid until the new one has been used.
      if (agent.credentials) await agent.reconnect(previous).catch(() => undefined);
      throw err;
    }
    agent.credentials = next;
    // Only the CSR this certificate answers is settled; one the server has not answered yet stays
    // out (the server may have re-certified the current key on its own meanwhile).
    const answered = csrKeys.findIndex((k) => k.privateKeyPem === keyPem);
    if (answered >= 0) csrKeys.splice(0, answered + 1);
    agent.emit('credentials', next);
    scheduleRenewal();
    return true;
  }

  /**
   * The private key that belongs to a certificate offered without one: the key of an outstanding
   * CSR, or (a renewal the server started) the key already in use. A certificate for any other key
   * is refused, as a real agent must: it could never complete a handshake with it.
   */
  function keyForOfferedCertificate(certPem: string): string {
    const offeredKey = new X509Certificate(certPem).publicKey;
    for (const keyPem of [...csrKeys.map((k) => k.privateKeyPem), agent.credentials?.keyPem]) {
      if (keyPem && createPublicKey(keyPem).equals(offeredKey)) return keyPem;
    }
    throw new Error('the offered certificate carries no key and names none of the keys this agent holds');
  }

  /** CSR agents renew themselves; server-keyed agents wait for the server's offer. */
  function scheduleRenewal(): void {
    clearTimeout(renewTimer);
    const c = agent.credentials;
    if (!c || c.keyOrigin !== 'csr' || stopping()) return;
    const life = c.notAfter.getTime() - c.notBefore.getTime();
    const at = c.notBefore.getTime() + life * (agent.options.renewAtFraction ?? 2 / 3);
    renewTimer = setTimeout(
      () => void agent.renewCertificate().catch((e: Error) => agent.emit('transportError', e)),
      Math.max(0, Math.min(at - Date.now(), 2_147_483_647)),
    );
    renewTimer.unref();
  }

  return {
    get csrDue() {
      const { bootstrapToken, csr } = agent.options;
      return Boolean(bootstrapToken && !agent.credentials && csr && csrKeys.length === 0);
    },
    prepareCsr,
    adopt,
    cancelRenewal: () => clearTimeout(renewTimer),
  };
}
