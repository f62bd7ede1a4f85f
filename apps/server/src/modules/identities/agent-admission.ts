import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { hashToken, parseToken, TokenFormatError } from '@ampora/authz';
import { DEFAULT_TENANT_ID, isUuid, type Clock } from '@ampora/db';
import { fingerprintSha256, parseAgentIdentity, pemEncode } from '@ampora/pki';
import type { AgentIdentity } from '../../gateway/agent-principal.js';
import { agentUserAgent, type AgentAdmission, type AuthenticateAgent } from '../../gateway/opamp-listener.js';
import type { OpampMetrics } from '../../gateway/opamp-metrics.js';
import type { Logger } from '../../observability/logger.js';
import type { EnrollmentService } from '../enrollment/enrollment-service.js';
import type { PkiService } from '../pki/pki-types.js';
import type { IdentityDirectory } from './identity-directory.js';
import type { RecordRefusal } from './refusal-audit.js';

export interface AgentAdmissionDeps {
  clock: Clock;
  logger: Logger;
  metrics: OpampMetrics;
  pki: Pick<PkiService, 'statusByFingerprint'>;
  enrollment: Pick<EnrollmentService, 'lookupToken'>;
  directory: IdentityDirectory;
  recordRefusal: RecordRefusal;
  /** Agents without credentials are refused (true) or admitted into the default tenant (false). */
  requireMtls: boolean;
  /** Bootstrap tokens over a plain (non-TLS) connection. */
  plaintextAllowed: boolean;
  renewAtFraction: number;
  /** A renewed certificate replaced these ones: close their sessions. */
  onSuperseded: (tenantId: string, fingerprints: string[]) => void;
  /** How many parsed client certificates are remembered (by fingerprint). */
  maxCachedCertificates?: number;
}

type Denial = { reason: string; tenantId?: string; agentId?: string; fingerprint?: string; detail?: string };

/**
 * When to start offering a new certificate: `fraction` of the lifetime, plus up to a tenth of
 * that as jitter taken from the fingerprint, so it is stable across polls and replicas but spread
 * across a fleet enrolled at the same moment.
 */
export function renewalTime(notBefore: Date, notAfter: Date, fingerprint: string, fraction: number): Date {
  const life = notAfter.getTime() - notBefore.getTime();
  const jitter = parseInt(fingerprint.slice(0, 8), 16) / 0x1_0000_0000;
  const at = notBefore.getTime() + life * fraction * (1 + 0.1 * jitter);
  return new Date(Math.min(at, notAfter.getTime() - 1));
}

/**
 * Admission to the OpAMP endpoint, decided before any message is read (C-2), in this order:
 * 1. a client certificate: it must chain to Ampora's CA, name an agent identity, be a current (or
 *    pending renewal) credential of that identity, and be neither revoked nor expired;
 * 2. `Authorization: Bearer amp-bs.…`: a well-formed, live bootstrap token admits an enrollment
 *    session and nothing more (its checksum is checked before any database lookup);
 * 3. nothing: refused, unless mutual TLS is switched off for local development.
 */
export function createAgentAdmission(deps: AgentAdmissionDeps): AuthenticateAgent {
  // What a certificate claims depends only on its bytes, and the fingerprint is their SHA-256,
  // so a parse (the costliest step of an mTLS admission) is done once per certificate. Only
  // certificates that chained to the trust bundle get here; trust and status are checked anew
  // every time.
  const claims = new Map<string, { tenantId: string; agentId: string } | null>();
  const maxClaims = deps.maxCachedCertificates ?? 100_000;

  function claimedIdentity(fingerprint: string, raw: Buffer) {
    const hit = claims.get(fingerprint);
    if (hit !== undefined) return hit;
    let claimed: { tenantId: string; agentId: string } | null;
    try {
      const parsed = parseAgentIdentity(raw);
      claimed = parsed && isUuid(parsed.tenantId) && isUuid(parsed.agentId) ? parsed : null;
    } catch {
      claimed = null;
    }
    claims.set(fingerprint, claimed);
    if (claims.size > maxClaims) claims.delete(claims.keys().next().value!);
    return claimed;
  }

  function deny(req: IncomingMessage, d: Denial): AgentAdmission {
    deps.metrics.admissionsDenied.inc({ reason: d.reason });
    const remoteAddress = req.socket.remoteAddress ?? '';
    deps.logger.info(
      { reason: d.reason, remoteAddress, fingerprint: d.fingerprint, tenantId: d.tenantId },
      'agent refused at admission',
    );
    return { ok: false, status: 401, reason: d.reason };
  }

  function audited(req: IncomingMessage, d: Denial, actor: { id: string; name: string }): AgentAdmission {
    deps.recordRefusal({
      // Unknown credentials name no trustworthy tenant; their refusals go to the default tenant.
      tenantId: d.tenantId ?? DEFAULT_TENANT_ID,
      actor: { kind: 'agent', ...actor },
      remoteAddress: req.socket.remoteAddress ?? '',
      userAgent: agentUserAgent(req),
      change: {
        action: 'agent.admission.refused',
        entity: { type: 'agent', id: d.agentId ?? null },
        after: {
          reason: d.reason,
          ...(d.fingerprint ? { fingerprint: d.fingerprint } : {}),
          ...(d.detail ? { detail: d.detail } : {}),
        },
      },
    });
    return deny(req, d);
  }

  async function byCertificate(
    req: IncomingMessage,
    socket: TLSSocket,
    raw: Buffer,
  ): Promise<AgentAdmission> {
    const fingerprint = fingerprintSha256(raw);
    const actor = { id: fingerprint, name: 'client certificate' };
    if (!socket.authorized) {
      return audited(
        req,
        { reason: 'certificate_not_trusted', fingerprint, detail: String(socket.authorizationError ?? '') },
        actor,
      );
    }
    const claimed = claimedIdentity(fingerprint, raw);
    if (!claimed) {
      return audited(req, { reason: 'certificate_without_agent_identity', fingerprint }, actor);
    }
    // The certificate chains to our CA, so the tenant and agent it names are authentic.
    const { tenantId, agentId } = claimed;
    const agentActor = { id: fingerprint, name: `agent ${agentId}` };
    const credential = await deps.directory.credential(tenantId, fingerprint);
    if (!credential || credential.agentId !== agentId) {
      return audited(req, { reason: 'unknown_certificate', tenantId, agentId, fingerprint }, agentActor);
    }
    if (credential.state === 'superseded') {
      return audited(req, { reason: 'certificate_superseded', tenantId, agentId, fingerprint }, agentActor);
    }
    const status = await deps.pki.statusByFingerprint(fingerprint);
    if (status.status === 'revoked') {
      return audited(req, { reason: 'certificate_revoked', tenantId, agentId, fingerprint }, agentActor);
    }
    if (status.status !== 'good') {
      return audited(req, { reason: 'unknown_certificate', tenantId, agentId, fingerprint }, agentActor);
    }
    const now = deps.clock.now();
    if (now.getTime() >= credential.notAfter.getTime()) {
      return audited(req, { reason: 'certificate_expired', tenantId, agentId, fingerprint }, agentActor);
    }
    if (credential.state === 'pending') {
      const superseded = await deps.directory.promote(
        {
          tenantId,
          actor: { kind: 'agent', ...agentActor },
          sourceIp: req.socket.remoteAddress ?? null,
          userAgent: agentUserAgent(req),
          requestId: null,
        },
        agentId,
        fingerprint,
      );
      if (superseded.length) deps.onSuperseded(tenantId, superseded);
    }
    const identity: AgentIdentity = {
      tenantId,
      agentId,
      fingerprint,
      instanceUidHex: credential.instanceUidHex,
      // Only a certificate offer needs the PEM, and most sessions never get one.
      get certPem() {
        return pemEncode(raw, 'CERTIFICATE');
      },
      keyOrigin: credential.keyOrigin,
      notBefore: credential.notBefore,
      notAfter: credential.notAfter,
      renewAt: renewalTime(credential.notBefore, credential.notAfter, fingerprint, deps.renewAtFraction),
    };
    return { ok: true, tenantId, agent: { kind: 'certificate', identity } };
  }

  async function byToken(req: IncomingMessage, token: string, encrypted: boolean): Promise<AgentAdmission> {
    if (!encrypted && !deps.plaintextAllowed) return deny(req, { reason: 'bootstrap_requires_tls' });
    try {
      parseToken(token, 'bootstrap');
    } catch (err) {
      // A mistyped or truncated token never reaches the database.
      if (err instanceof TokenFormatError)
        return deny(req, { reason: 'malformed_token', detail: err.problem });
      throw err;
    }
    const tokenHash = hashToken(token);
    const found = await deps.enrollment.lookupToken(tokenHash);
    const actor = { id: 'bootstrap-token', name: 'bootstrap token' };
    if (!found) return audited(req, { reason: 'unknown_token' }, actor);
    const tokenActor = { id: `token:${found.tokenId}`, name: 'bootstrap token' };
    if (found.state === 'redeemed') {
      return audited(req, { reason: 'token_already_used', tenantId: found.tenantId }, tokenActor);
    }
    if (!found.expiresAt || found.expiresAt.getTime() <= deps.clock.now().getTime()) {
      return audited(req, { reason: 'token_expired', tenantId: found.tenantId }, tokenActor);
    }
    return {
      ok: true,
      tenantId: found.tenantId,
      agent: { kind: 'bootstrap', tokenHash, tokenId: found.tokenId },
    };
  }

  return async function authenticateAgent(req: IncomingMessage): Promise<AgentAdmission> {
    const socket = req.socket as TLSSocket;
    const encrypted = socket.encrypted === true;
    if (encrypted) {
      // Only the DER is needed: the X509Certificate view is cheaper than the legacy object.
      const raw = socket.getPeerX509Certificate()?.raw;
      if (raw?.length) return byCertificate(req, socket, raw);
    }
    const authorization = req.headers.authorization;
    const bearer = typeof authorization === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
    if (bearer) return byToken(req, bearer[1]!, encrypted);
    if (!deps.requireMtls) return { ok: true, tenantId: DEFAULT_TENANT_ID, agent: { kind: 'anonymous' } };
    return deny(req, { reason: 'client_certificate_required' });
  };
}
