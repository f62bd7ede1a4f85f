import { X509Certificate } from 'node:crypto';
import {
  AgentCapability,
  ConnectionSettingsStatuses,
  has,
  uuidToString,
  type ConnectionSettingsOffers,
  type ValidAgentToServer,
} from '@ampora/opamp';
import { withTenant } from '@ampora/db';
import { generateKeyPairForAgent, isPkiError, parseAndVerifyCsr, type AgentKeySpec } from '@ampora/pki';
import type {
  Admitted,
  AgentIdentity,
  AgentTrust,
  Enrolled,
  TrustResult,
} from '../../gateway/agent-principal.js';
import { opampOffer } from '../../gateway/connection-offers.js';
import type { OpampMetrics } from '../../gateway/opamp-metrics.js';
import type { ServerContext } from '../../runtime/context.js';
import type { AuditContext } from '../audit/audit-recorder.js';
import type { EnrollmentService } from '../enrollment/enrollment-service.js';
import type { PkiService, SignedCertificate } from '../pki/pki-types.js';
import type { IdentityDirectory } from './identity-directory.js';
import { insertCredential, insertEnrollment, uidOwner } from './identities-queries.js';
import type { RecordRefusal } from './refusal-audit.js';

export interface AgentTrustDeps extends Pick<ServerContext, 'db' | 'clock' | 'ids' | 'audit' | 'logger'> {
  metrics: OpampMetrics;
  pki: Pick<PkiService, 'signAgentCertificate' | 'recordIssued'>;
  enrollment: Pick<EnrollmentService, 'redeem'>;
  directory: IdentityDirectory;
  recordRefusal: RecordRefusal;
  /** The OpAMP URL agents should use, per transport (never empty). */
  endpoint: (transport: 'websocket' | 'http') => string;
  heartbeatIntervalSeconds: number;
  serverKey: AgentKeySpec;
  /** The current trust bundle (agents' CA certificates); undefined until first loaded. */
  trustBundle: () => string | undefined;
  /** CA certificates that verify the listener, offered to agents when known. */
  serverCaPem: () => string | undefined;
}

type Fail = { ok: false; message: string };
type RenewalFlow = 'renew-csr' | 'renew-same-key' | 'renew-server-key';
const fail = (message: string): Fail => ({ ok: false, message });

function agentContext(admitted: Admitted, actor: { id: string; name: string }): AuditContext {
  return {
    tenantId: admitted.tenantId,
    actor: { kind: 'agent', ...actor },
    sourceIp: admitted.remoteAddress || null,
    userAgent: admitted.userAgent,
    requestId: null,
  };
}

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
 * The trust side of the OpAMP gateway: enrollment with a bootstrap token, certificate renewal (CSR
 * or server-generated key), and the refusals that go with them. Every certificate is signed before
 * the transaction that records it; a transaction that loses (a token redeemed twice at once) just
 * drops the signed certificate, which is then never delivered.
 */
type RedeemOutcome =
  | { ok: true; initialGroup: string | null }
  | { ok: false; reason: string; message: string; entityId?: string }
  | { ok: 'retry'; agentRowId: string };

const CONFLICT = 'this instance_uid was enrolled by another connection at the same time';

export function createAgentTrust(deps: AgentTrustDeps): AgentTrust {
  const { db, clock, audit } = deps;

  function refuse(
    admitted: Admitted,
    actor: { id: string; name: string },
    reason: string,
    message: string,
    entityId: string | null,
    extra: object = {},
  ): Fail {
    deps.recordRefusal({
      tenantId: admitted.tenantId,
      actor: { kind: 'agent', ...actor },
      remoteAddress: admitted.remoteAddress,
      userAgent: admitted.userAgent,
      change: {
        action: 'agent.enroll',
        entity: { type: 'agent', id: entityId },
        after: { reason, message, ...extra },
      },
    });
    deps.metrics.bootstrapRedemptions.inc({ outcome: reason });
    return fail(message);
  }

  /** The agent's public key: from its verified CSR, or from a key pair made here. */
  async function keyFor(
    msg: ValidAgentToServer,
  ): Promise<
    | { ok: true; spki: Buffer; privateKeyPem?: string; origin: 'csr' | 'server' }
    | { ok: false; reason: string; message: string }
  > {
    const csrBytes = msg.connectionSettingsRequest?.opamp?.certificateRequest?.csr;
    if (!csrBytes?.length) {
      const key = await generateKeyPairForAgent(deps.serverKey);
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

  function certificateOffer(
    transport: 'websocket' | 'http',
    cert: SignedCertificate,
    privateKeyPem: string | undefined,
  ): ConnectionSettingsOffers {
    return opampOffer({
      destinationEndpoint: deps.endpoint(transport),
      heartbeatIntervalSeconds: deps.heartbeatIntervalSeconds,
      certificate: { certPem: cert.certPem, privateKeyPem, caPem: deps.trustBundle() ?? cert.chainPem },
      serverCaPem: deps.serverCaPem(),
    });
  }

  function credentialRow(
    tenantId: string,
    agentId: string,
    cert: SignedCertificate,
    state: 'current' | 'pending',
    origin: 'csr' | 'server',
    now: Date,
  ) {
    return {
      tenant_id: tenantId,
      fingerprint: cert.fingerprint,
      agent_id: agentId,
      serial_hex: cert.serialHex,
      state,
      key_origin: origin,
      not_before: cert.notBefore,
      not_after: cert.notAfter,
      issued_at: now,
      activated_at: state === 'current' ? now : null,
    };
  }

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
    return certificateOffer(admitted.transport, cert, privateKeyPem);
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
        if (rowId !== agentId) throw new Error('agent row appeared concurrently under another id');
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
      // The uid was enrolled by a racing connection (unique constraint), or the row moved.
      deps.logger.warn({ err, tenantId }, 'enrollment transaction failed');
      return { ok: false, reason: 'enrollment_conflict', message: CONFLICT };
    }
  }

  return {
    async enroll(admitted, msg, boundUid): Promise<TrustResult<Enrolled>> {
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
      const key = await keyFor(msg);
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
        value: { identity, offer: certificateOffer(admitted.transport, cert, key.privateKeyPem) },
      };
    },

    async renewWithCsr(admitted, identity, msg) {
      const actor = { id: identity.fingerprint, name: `agent ${identity.agentId}` };
      const key = await keyFor(msg);
      if (!key.ok || key.origin !== 'csr') {
        const reason = key.ok ? 'csr_malformed' : key.reason;
        const message = key.ok ? 'the certificate request is empty' : key.message;
        deps.recordRefusal({
          tenantId: admitted.tenantId,
          actor: { kind: 'agent', ...actor },
          remoteAddress: admitted.remoteAddress,
          userAgent: admitted.userAgent,
          change: {
            action: 'agent.certificate.renew',
            entity: { type: 'agent', id: identity.agentId },
            after: { reason, message },
          },
        });
        return fail(message);
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

    currentCertificate(identity) {
      const bundle = deps.trustBundle();
      if (!bundle) return undefined;
      return { cert: Buffer.from(identity.certPem), caCert: Buffer.from(bundle) };
    },

    serverCaPem: () => deps.serverCaPem(),

    isBoundUid: (tenantId, uidHex) => deps.directory.isBoundUid(tenantId, uidHex),

    impersonationRefused(admitted, claimedUidHex, boundUidHex) {
      const identity = admitted.agent.kind === 'certificate' ? admitted.agent.identity : undefined;
      deps.recordRefusal({
        tenantId: admitted.tenantId,
        actor: identity
          ? { kind: 'agent', id: identity.fingerprint, name: `agent ${identity.agentId}` }
          : { kind: 'agent', id: admitted.agent.kind, name: `${admitted.agent.kind} agent` },
        remoteAddress: admitted.remoteAddress,
        userAgent: admitted.userAgent,
        change: {
          action: 'agent.impersonation.refused',
          entity: { type: 'agent', id: identity?.agentId ?? null },
          after: {
            claimedInstanceUid: uuidToString(Buffer.from(claimedUidHex, 'hex')),
            boundInstanceUid: boundUidHex ? uuidToString(Buffer.from(boundUidHex, 'hex')) : null,
          },
        },
      });
    },

    settingsStatus(admitted, identity, status) {
      if (status.status !== ConnectionSettingsStatuses.ConnectionSettingsStatuses_FAILED) return;
      deps.logger.warn(
        { agent: identity.agentId, error: status.errorMessage },
        'agent could not apply offered connection settings',
      );
      deps.recordRefusal({
        tenantId: admitted.tenantId,
        actor: { kind: 'agent', id: identity.fingerprint, name: `agent ${identity.agentId}` },
        remoteAddress: admitted.remoteAddress,
        userAgent: admitted.userAgent,
        change: {
          action: 'agent.connection-settings.fail',
          entity: { type: 'agent', id: identity.agentId },
          after: {
            hash: Buffer.from(status.lastConnectionSettingsHash).toString('hex'),
            error: status.errorMessage.slice(0, 500),
          },
        },
      });
    },
  };
}
