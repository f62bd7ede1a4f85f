import { sql } from 'kysely';
import { withTenant } from '@ampora/db';
import type { Database } from '@ampora/db';
import type { JsonValue } from './canonical.js';
import type { AuditRecord } from './chain.js';
import type { AuditCheckpoint } from './checkpoint.js';
import type { AuditActorKind, AuditOutcome } from './events.js';

/** What `verifyChain` reads. Rows come from the hot table and the archive merged, in seq order. */
export interface AuditChainReader {
  tenantIds(): Promise<string[]>;
  head(tenantId: string): Promise<{ seq: number; hash: string } | undefined>;
  /** Ascending by seq. */
  checkpoints(tenantId: string): Promise<AuditCheckpoint[]>;
  /** Up to `limit` records with seq > `afterSeq`, ascending by seq. */
  records(tenantId: string, afterSeq: number, limit: number): Promise<AuditRecord[]>;
}

interface RecordRow {
  id: string;
  tenant_id: string;
  seq: number | string;
  version: number;
  prev_hash: string;
  hash: string;
  time: Date;
  actor_kind: string;
  actor_id: string;
  actor_name: string;
  action: string;
  entity_type: string;
  entity_id: string | null;
  before: JsonValue | null;
  after: JsonValue | null;
  outcome: string;
  source_ip: string | null;
  user_agent: string | null;
  request_id: string | null;
}

const COLUMNS = sql.raw(
  'id, tenant_id, seq, version, prev_hash, hash, time, actor_kind, actor_id, actor_name, action, ' +
    'entity_type, entity_id, before, after, outcome, source_ip, user_agent, request_id',
);

function toRecord(row: RecordRow): AuditRecord {
  return {
    v: row.version as 1,
    id: row.id,
    tenantId: row.tenant_id,
    seq: Number(row.seq),
    prevHash: row.prev_hash,
    hash: row.hash,
    time: row.time,
    actor: { kind: row.actor_kind as AuditActorKind, id: row.actor_id, name: row.actor_name },
    action: row.action,
    entity: { type: row.entity_type, id: row.entity_id },
    before: row.before,
    after: row.after,
    outcome: row.outcome as AuditOutcome,
    sourceIp: row.source_ip,
    userAgent: row.user_agent,
    requestId: row.request_id,
  };
}

/**
 * Reads audit chains through a pool. Every read runs in the tenant's RLS context, so this works
 * with the app role as well as the owner. Pages use keyset pagination on (tenant_id, seq), which
 * the unique index serves, so each page costs the same however deep into the chain it is.
 */
export function createAuditReader(db: Database): AuditChainReader {
  return {
    async tenantIds() {
      const rows = await db.selectFrom('tenants').select('id').orderBy('id').execute();
      return rows.map((r) => r.id);
    },
    head(tenantId) {
      return withTenant(db, tenantId, async (tx) => {
        const row = await tx
          .selectFrom('audit_chain_heads')
          .select(['seq', 'hash'])
          .where('tenant_id', '=', tenantId)
          .executeTakeFirst();
        return row ? { seq: Number(row.seq), hash: row.hash } : undefined;
      });
    },
    checkpoints(tenantId) {
      return withTenant(db, tenantId, async (tx) => {
        const rows = await tx
          .selectFrom('audit_checkpoints')
          .selectAll()
          .where('tenant_id', '=', tenantId)
          .orderBy('seq')
          .execute();
        return rows.map((r) => ({
          tenantId: r.tenant_id,
          seq: Number(r.seq),
          headHash: r.head_hash,
          count: Number(r.count),
          time: r.time,
          keyId: r.key_id,
          signature: r.signature,
        }));
      });
    },
    records(tenantId, afterSeq, limit) {
      return withTenant(db, tenantId, async (tx) => {
        const { rows } = await sql<RecordRow>`
          select * from (
            (select ${COLUMNS} from audit_events
              where tenant_id = ${tenantId} and seq > ${afterSeq} order by seq limit ${limit})
            union all
            (select ${COLUMNS} from audit_events_archive
              where tenant_id = ${tenantId} and seq > ${afterSeq} order by seq limit ${limit})
          ) r order by seq limit ${limit}`.execute(tx);
        return rows.map(toRecord);
      });
    },
  };
}
