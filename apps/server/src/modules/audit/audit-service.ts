import { createAuditReader, verifyChain } from '@ampora/audit';
import { withTenant, type Database } from '@ampora/db';
import { cursorText, encodeCursor, invalidCursor } from '../../http/cursor.js';
import { problems } from '../../http/problem.js';
import { listEventsPage, type AuditEventFilter, type AuditEventRow } from './audit-queries.js';
import type { AuditContext, AuditRecorder } from './audit-recorder.js';
import type { AuditSigningKeys } from './audit-signing-keys.js';

export const ARCHIVE_READ_ACTION = 'audit.archive.read';

export interface AuditServiceDeps {
  db: Database;
  audit: Pick<AuditRecorder, 'record'>;
  signingKeys: Pick<AuditSigningKeys, 'verifySignature'>;
}

export interface ListAuditEventsQuery {
  actor?: string;
  actorKind?: string;
  entityType?: string;
  entityId?: string;
  action?: string;
  outcome?: string;
  from?: string;
  to?: string;
  includeArchive: boolean;
  cursor?: string;
  limit: number;
}

const CURSOR_PREFIX = 'seq:';

export function encodeSeqCursor(seq: number): string {
  return encodeCursor(`${CURSOR_PREFIX}${seq}`);
}

export function decodeSeqCursor(cursor: string): number {
  const text = cursorText(cursor);
  const seq = Number(text.slice(CURSOR_PREFIX.length));
  if (!text.startsWith(CURSOR_PREFIX) || !Number.isSafeInteger(seq) || seq < 1) throw invalidCursor();
  return seq;
}

function toItem(r: AuditEventRow) {
  return {
    id: r.id,
    seq: Number(r.seq),
    time: r.time.toISOString(),
    actor: { kind: r.actor_kind, id: r.actor_id, name: r.actor_name },
    action: r.action,
    entity: { type: r.entity_type, id: r.entity_id },
    before: r.before ?? null,
    after: r.after ?? null,
    outcome: r.outcome,
    sourceIp: r.source_ip,
    userAgent: r.user_agent,
    requestId: r.request_id,
    prevHash: r.prev_hash,
    hash: r.hash,
    archived: r.archived,
  };
}

function parseTime(value: string | undefined, name: string): Date | undefined {
  if (value === undefined) return undefined;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw problems.badRequest(`${name} is not a valid date-time`);
  return d;
}

/** Search and verification of a tenant's audit trail. There is deliberately nothing that changes it. */
export function createAuditService(deps: AuditServiceDeps) {
  return {
    /**
     * One page of the caller's events, newest first. Including the archive is the caller's to
     * authorize (Admin); the read is recorded as an event in the same transaction, so an archive
     * search is never served without its trace.
     */
    async list(ctx: AuditContext, q: ListAuditEventsQuery) {
      const filter: AuditEventFilter = {
        tenantId: ctx.tenantId,
        actor: q.actor,
        actorKind: q.actorKind,
        entityType: q.entityType,
        entityId: q.entityId,
        action: q.action,
        outcome: q.outcome,
        from: parseTime(q.from, 'from'),
        to: parseTime(q.to, 'to'),
        beforeSeq: q.cursor === undefined ? undefined : decodeSeqCursor(q.cursor),
      };
      const rows = await withTenant(deps.db, ctx.tenantId, async (tx) => {
        const hot = await listEventsPage(tx, 'audit_events', filter, q.limit + 1);
        if (!q.includeArchive) return hot;
        const archived = await listEventsPage(tx, 'audit_events_archive', filter, q.limit + 1);
        await deps.audit.record(tx, ctx, {
          action: ARCHIVE_READ_ACTION,
          entity: { type: 'audit_archive', id: null },
          after: {
            filters: Object.fromEntries(
              Object.entries({ ...q, includeArchive: undefined, limit: undefined }).filter(
                ([, v]) => v !== undefined,
              ),
            ),
            returned: Math.min(hot.length + archived.length, q.limit),
          },
        });
        return [...hot, ...archived].sort((a, b) => Number(b.seq) - Number(a.seq));
      });
      const page = rows.slice(0, q.limit);
      return {
        items: page.map(toItem),
        nextCursor: rows.length > q.limit ? encodeSeqCursor(Number(page[page.length - 1]!.seq)) : null,
      };
    },

    /** Recomputes the tenant's whole chain (hot and archive) against its signed checkpoints. */
    async verify(tenantId: string) {
      const result = await verifyChain(createAuditReader(deps.db), {
        tenantId,
        verifySignature: deps.signingKeys.verifySignature,
      });
      return result.ok
        ? { ok: true, tenantId, count: result.count }
        : {
            ok: false,
            tenantId,
            count: result.count,
            firstBadSeq: result.firstBadSeq,
            problem: result.problem,
          };
    },
  };
}

export type AuditService = ReturnType<typeof createAuditService>;
