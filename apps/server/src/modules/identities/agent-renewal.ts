import { X509Certificate } from 'node:crypto';
import { uuidToString, type ConnectionSettingsOffers } from '@ampora/opamp';
import { withTenant } from '@ampora/db';
import { generateKeyPairForAgent } from '@ampora/pki';
import type { Admitted, AgentIdentity, AgentTrust } from '../../gateway/agent-principal.js';
import { csrKeyFor } from './agent-keys.js';
import { agentRefusal } from './refusal-audit.js';
import type { AgentTrustDeps } from './agent-trust.js';
import { insertCredential } from './identities-queries.js';
import { agentContext, certificateOffer, credentialRow } from './issued-credentials.js';

type RenewalFlow = 'renew-csr' | 'renew-same-key' | 'renew-server-key';

/**
 * Renewal of an enrolled agent's certificate: on its CSR, or started by the server once the
 * certificate is due. The new certificate is recorded as pending; the old one keeps working until
 * the agent has connected with the new one.
 */
export function createAgentRenewal(
  deps: Omit<AgentTrustDeps, 'directory' | 'enrollment'>,
): Pick<AgentTrust, 'renewWithCsr' | 'renew'> {
  const { db, clock, audit } = deps;

  /** Signs and records a pending renewal; the old certificate keeps working until the new one is used. */
  async function renewal(
    admitted: Admitted,
    identity: AgentIdentity,
    spki: Buffer,
    privateKeyPem: string | undefined,
    origin: 'csr' | 'server',
    flow: RenewalFlow,
  ): Promise<ConnectionSettingsOffers> {
    const cert = await deps.pki.signAgentCertificate({
      tenantId: identity.tenantId,
      agentId: identity.agentId,
      publicKeySpkiDer: spki,
      commonName: uuidToString(Buffer.from(identity.instanceUidHex, 'hex')),
    });
    await withTenant(db, identity.tenantId, async (tx) => {
      const now = clock.now();
      await insertCredential(
        tx,
        credentialRow(identity.tenantId, identity.agentId, cert, 'pending', origin, now),
      );
      await deps.pki.recordIssued(tx, cert, {
        tenantId: identity.tenantId,
        agentId: identity.agentId,
        kind: 'agent',
      });
      // Last: the audit chain head stays locked from the append to COMMIT.
      await audit.record(
        tx,
        agentContext(admitted, { id: identity.fingerprint, name: `agent ${identity.agentId}` }),
        {
          action: 'agent.certificate.renew',
          entity: { type: 'agent', id: identity.agentId },
          before: { fingerprint: identity.fingerprint, notAfter: identity.notAfter.toISOString() },
          after: {
            fingerprint: cert.fingerprint,
            serial: cert.serialHex,
            keyOrigin: origin,
            sameKey: flow === 'renew-same-key',
            notAfter: cert.notAfter.toISOString(),
          },
        },
      );
    });
    deps.metrics.certificatesIssued.inc({ flow });
    return certificateOffer(deps, admitted.transport, cert, privateKeyPem);
  }

  return {
    async renewWithCsr(admitted, identity, msg) {
      const actor = { id: identity.fingerprint, name: `agent ${identity.agentId}` };
      const key = csrKeyFor(msg) ?? {
        ok: false,
        reason: 'csr_malformed',
        message: 'the certificate request is empty',
      };
      if (!key.ok) {
        const { reason, message } = key;
        deps.recordRefusal(
          agentRefusal(admitted, actor, {
            action: 'agent.certificate.renew',
            entity: { type: 'agent', id: identity.agentId },
            after: { reason, message },
          }),
        );
        return { ok: false, message };
      }
      return { ok: true, value: await renewal(admitted, identity, key.spki, undefined, 'csr', 'renew-csr') };
    },

    async renew(admitted, identity) {
      if (identity.keyOrigin === 'csr') {
        // The agent made its key and the server never holds it, so the new certificate names the
        // key the agent already has and the offer carries no private key (the spec's CSR-flow
        // form). An agent that wants a fresh key sends a CSR instead, at any time.
        const spki = new X509Certificate(identity.certPem).publicKey.export({ type: 'spki', format: 'der' });
        return renewal(admitted, identity, spki, undefined, 'csr', 'renew-same-key');
      }
      const key = await generateKeyPairForAgent(deps.serverKey);
      return renewal(
        admitted,
        identity,
        key.publicKeySpkiDer,
        key.privateKeyPkcs8Pem,
        'server',
        'renew-server-key',
      );
    },
  };
}
