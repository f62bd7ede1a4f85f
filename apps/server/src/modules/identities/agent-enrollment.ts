import { AgentCapability, has, uuidToString } from '@ampora/opamp';
import { isUniqueViolation, withTenant } from '@ampora/db';
import type {
  Admitted,
  AgentIdentity,
  AgentTrust,
  Enrolled,
  TrustResult,
} from '../../gateway/agent-principal.js';
import type { SignedCertificate } from '../pki/pki-types.js';
import { agentKeyFor } from './agent-keys.js';
import { agentRefusal } from './refusal-audit.js';
import type { AgentTrustDeps } from './agent-trust.js';
import { insertEnrollment, uidOwner } from './identities-queries.js';
import { agentContext, certificateOffer, credentialRow } from './issued-credentials.js';

type Fail = { ok: false; message: string };
const fail = (message: string): Fail => ({ ok: false, message });

type RedeemOutcome =
  | { ok: true; initialGroup: string | null }
  | { ok: false; reason: string; message: string; entityId?: string }
  | { ok: 'retry'; agentRowId: string };

const CONFLICT = 'this instance_uid was enrolled by another connection at the same time';

/** The agent's row appeared under another id while this enrollment ran. */
class ConcurrentEnrollment extends Error {}

/**
 * Enrollment with a bootstrap token: the key (CSR or made here), the certificate signed before the
 * redemption transaction, and the refusals that go with it. A transaction that loses (a token
 * redeemed twice at once) just drops the signed certificate, which is then never delivered.
 */
export function createAgentEnrollment(deps: Omit<AgentTrustDeps, 'directory'>): AgentTrust['enroll'] {
  const { db, clock, audit } = deps;

  function refuse(
    admitted: Admitted,
    actor: { id: string; name: string },
    reason: string,
    message: string,
    entityId: string | null,
    extra: object = {},
  ): Fail {
    deps.recordRefusal(
      agentRefusal(admitted, actor, {
        action: 'agent.enroll',
        entity: { type: 'agent', id: entityId },
        after: { reason, message, ...extra },
      }),
    );
    deps.metrics.bootstrapRedemptions.inc({ outcome: reason });
    return fail(message);
  }

  /** The redemption transaction: the token, the identity, its credential and certificate, the audit event. */
  async function redeemAndStore(
    admitted: Admitted & { agent: { kind: 'bootstrap' } },
    token: { tokenHash: string; tokenId: string },
    keyOrigin: 'csr' | 'server',
    uid: Buffer,
    agentId: string,
    cert: SignedCertificate,
  ): Promise<RedeemOutcome> {
    const { tenantId } = admitted;
    try {
      return await withTenant(db, tenantId, async (tx): Promise<RedeemOutcome> => {
        const owner = await uidOwner(tx, uid);
        if (owner.identityId) {
          return {
            ok: false,
            reason: 'uid_already_enrolled',
            message:
              'this instance_uid is already enrolled; an agent that lost its certificate enrolls under a new instance_uid',
            entityId: owner.identityId,
          };
        }
        // An agent seen before without credentials (local development) keeps its row and its id.
        if (owner.agentRowId && owner.agentRowId !== agentId)
          return { ok: 'retry', agentRowId: owner.agentRowId };
        const redeemed = await deps.enrollment.redeem(tx, tenantId, token.tokenHash, agentId);
        if (!redeemed.ok) {
          const message =
            redeemed.reason === 'token_expired'
              ? 'the bootstrap token has expired'
              : 'the bootstrap token has already been used';
          return { ok: false, reason: redeemed.reason, message };
        }
        const now = clock.now();
        const rowId = await insertEnrollment(
          tx,
          {
            tenant_id: tenantId,
            id: agentId,
            instance_uid: uid,
            initial_group: redeemed.initialGroup,
            key_origin: keyOrigin,
            token_id: redeemed.tokenId,
            enrolled_at: now,
          },
          credentialRow(tenantId, agentId, cert, 'current', keyOrigin, now),
        );
        if (rowId !== agentId) throw new ConcurrentEnrollment();
        await deps.pki.recordIssued(tx, cert, { tenantId, agentId, kind: 'agent' });
        // Last: the tenant's audit chain head stays locked from the append to COMMIT, so
        // concurrent enrollments only queue on it for the append itself.
        await audit.record(tx, agentContext(admitted, { id: cert.fingerprint, name: `agent ${agentId}` }), {
          action: 'agent.enroll',
          entity: { type: 'agent', id: agentId },
          after: {
            instanceUid: uuidToString(uid),
            fingerprint: cert.fingerprint,
            serial: cert.serialHex,
            keyOrigin,
            tokenId: redeemed.tokenId,
            tokenLabel: redeemed.label,
            poolId: redeemed.poolId,
            initialGroup: redeemed.initialGroup,
            notAfter: cert.notAfter.toISOString(),
          },
        });
        return { ok: true, initialGroup: redeemed.initialGroup };
      });
    } catch (err) {
      // Only a race is the agent's to hear about; any other failure (the database is away, say)
      // goes up to the gateway, which answers Unavailable so the agent retries with its token,
      // which the rolled-back transaction left unspent.
      if (!(err instanceof ConcurrentEnrollment) && !isUniqueViolation(err)) throw err;
      deps.logger.warn({ err, tenantId }, 'enrollment lost a race for its instance_uid');
      return { ok: false, reason: 'enrollment_conflict', message: CONFLICT };
    }
  }

  return async function enroll(admitted, msg, boundUid): Promise<TrustResult<Enrolled>> {
    const { tenantId } = admitted;
    const token = admitted.agent;
    const tokenActor = { id: `token:${token.tokenId}`, name: 'bootstrap token' };
    if (!has(msg.capabilities, AgentCapability.AcceptsOpAMPConnectionSettings)) {
      return refuse(
        admitted,
        tokenActor,
        'missing_capability',
        'enrollment needs the AcceptsOpAMPConnectionSettings capability: the certificate is delivered in connection settings',
        null,
      );
    }
    const key = await agentKeyFor(msg, deps.serverKey);
    if (!key.ok) return refuse(admitted, tokenActor, key.reason, key.message, null);

    const uid = Buffer.from(boundUid);
    // The uid's owner is checked inside the redemption transaction rather than in one of its own
    // before signing: a transaction costs the server more than the rare wasted signature (a uid
    // already enrolled, or a row from the agent's earlier anonymous sessions, whose id it keeps).
    let agentId = deps.ids.uuid();
    let outcome: RedeemOutcome;
    let cert: SignedCertificate;
    for (let attempt = 0; ; attempt++) {
      // Sign first: no signing between BEGIN and COMMIT.
      cert = await deps.pki.signAgentCertificate({
        tenantId,
        agentId,
        publicKeySpkiDer: key.spki,
        keyAlgorithm: key.keyAlgorithm,
        commonName: uuidToString(boundUid),
      });
      outcome = await redeemAndStore(admitted, token, key.origin, uid, agentId, cert);
      if (outcome.ok !== 'retry') break;
      if (attempt > 0) {
        outcome = { ok: false, reason: 'enrollment_conflict', message: CONFLICT };
        break;
      }
      agentId = outcome.agentRowId;
    }
    if (!outcome.ok) {
      return refuse(admitted, tokenActor, outcome.reason, outcome.message, outcome.entityId ?? agentId);
    }

    deps.metrics.bootstrapRedemptions.inc({ outcome: 'success' });
    deps.metrics.certificatesIssued.inc({
      flow: key.origin === 'csr' ? 'enroll-csr' : 'enroll-server-key',
    });
    const identity: AgentIdentity = {
      tenantId,
      agentId,
      fingerprint: cert.fingerprint,
      instanceUidHex: uid.toString('hex'),
      certPem: cert.certPem,
      keyOrigin: key.origin,
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
      // The enrollment stream never renews; the agent reconnects with mTLS at once.
      renewAt: cert.notAfter,
    };
    return {
      ok: true,
      value: { identity, offer: certificateOffer(deps, admitted.transport, cert, key.privateKeyPem) },
    };
  };
}
