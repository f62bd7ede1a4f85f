import type { FastifyRequest } from 'fastify';
import { appendAuditEvent, redact, type AuditActor, type AuditOutcome } from '@ampora/audit';
import { withTenant, type Clock, type Database, type IdSource, type Tx } from '@ampora/db';
import type { Principal } from '../../http/principal.js';

/** Who did something and from where; taken from the request, an agent connection, or a job. */
export interface AuditContext {
  tenantId: string;
  actor: AuditActor;
  sourceIp: string | null;
  userAgent: string | null;
  requestId: string | null;
}

export interface AuditedChange {
  /** Dotted, lowercase: `enrollment.token.create`, `pki.certificate.revoke`. */
  action: string;
  entity: { type: string; id: string | null };
  before?: unknown;
  after?: unknown;
  outcome?: AuditOutcome;
  /** Keys anywhere in before/after whose values are secrets: recorded only as their HMAC. */
  secretKeys?: string[];
}

export function actorOf(p: Principal): AuditActor {
  return { kind: p.kind, id: p.id, name: p.name };
}

/** Where a request came from: the part of an audit context that needs no principal. */
export type RequestMeta = Pick<AuditContext, 'sourceIp' | 'userAgent' | 'requestId'>;

export function requestMeta(request: FastifyRequest): RequestMeta {
  return {
    sourceIp: request.ip ?? null,
    userAgent: (request.headers['user-agent'] as string | undefined) ?? null,
    requestId: request.id ?? null,
  };
}

/** The audit context of an authenticated request. */
export function requestAuditContext(request: FastifyRequest, principal: Principal): AuditContext {
  return { tenantId: principal.tenantId, actor: actorOf(principal), ...requestMeta(request) };
}

/** The audit context of a background job (CRL publishing, retention, renewal). */
export function systemAuditContext(tenantId: string, job: string): AuditContext {
  return {
    tenantId,
    actor: { kind: 'system', id: job, name: job },
    sourceIp: null,
    userAgent: null,
    requestId: null,
  };
}

export interface AuditRecorderDeps {
  clock: Clock;
  ids: IdSource;
  /** HMAC-SHA256 under a key held by the key protector, for secrets that must be traceable but never stored. */
  hmac: (data: string) => string;
}

/**
 * Writes audit events inside the caller's transaction, so an event commits with its change or not
 * at all, and a failing audit write fails the change.
 */
export function createAuditRecorder(deps: AuditRecorderDeps) {
  return {
    async record(tx: Tx, ctx: AuditContext, change: AuditedChange) {
      const secrets = change.secretKeys ?? [];
      // Without secret keys redact() would only convert the value, which appending does anyway.
      const scrub = (value: unknown) => (secrets.length > 0 ? redact(value, secrets, deps.hmac) : value);
      await appendAuditEvent(
        tx,
        {
          tenantId: ctx.tenantId,
          actor: ctx.actor,
          action: change.action,
          entity: change.entity,
          before: change.before === undefined ? null : scrub(change.before),
          after: change.after === undefined ? null : scrub(change.after),
          outcome: change.outcome ?? 'success',
          sourceIp: ctx.sourceIp,
          userAgent: ctx.userAgent,
          requestId: ctx.requestId,
        },
        { clock: deps.clock, ids: deps.ids },
      );
    },
    /** HMAC of a secret, for events that must name a secret without storing it. */
    hmac: deps.hmac,
  };
}

export type AuditRecorder = ReturnType<typeof createAuditRecorder>;

/**
 * Audits a refusal (outcome `denied`) in a transaction of its own: a refused request has no change
 * to commit with. Never rejects, because the refusal stands whether or not it could be recorded;
 * a failed write goes to `onFailure` (to be logged) and the event is lost.
 */
export async function recordDenied(
  db: Database,
  audit: Pick<AuditRecorder, 'record'>,
  ctx: AuditContext,
  change: Omit<AuditedChange, 'outcome'>,
  onFailure: (err: unknown) => void,
): Promise<void> {
  try {
    await withTenant(db, ctx.tenantId, (tx) => audit.record(tx, ctx, { ...change, outcome: 'denied' }));
  } catch (err) {
    onFailure(err);
  }
}
