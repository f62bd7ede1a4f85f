import type { Clock, IdSource, Tx } from '@ampora/db';
import { computeRecordHash, GENESIS_HASH } from './chain.js';
import type { AuditRecord } from './chain.js';
import { normalizeAuditEvent } from './events.js';
import type { NewAuditEvent } from './events.js';

export interface AppendDeps {
  readonly clock: Clock;
  readonly ids: IdSource;
}

/**
 * Appends an event to its tenant's hash chain.
 *
 * It takes a transaction, never a pool: the event commits with the change it describes or not at
 * all, and a failing append fails the change. The transaction must run in the event's tenant
 * context (`withTenant`); RLS refuses the insert otherwise.
 *
 * Concurrency: the tenant's chain head row is locked (`FOR UPDATE`) until the transaction ends,
 * so writers of one tenant take turns and each gets the next seq; other tenants are not touched.
 * Since the lock is held to commit, make the append the last statement of an audited transaction
 * (everything before it runs without the lock) and keep what follows it short.
 */
export async function appendAuditEvent(tx: Tx, input: NewAuditEvent, deps: AppendDeps): Promise<AuditRecord> {
  const event = normalizeAuditEvent(input, deps.clock.now());
  const head = await lockChainHead(tx, event.tenantId);
  const unhashed = { ...event, id: deps.ids.uuid(), seq: head.seq + 1, prevHash: head.hash };
  const record: AuditRecord = { ...unhashed, hash: computeRecordHash(unhashed) };

  // The database checks that the event extends the head, and moves the head onto it (triggers).
  await tx
    .insertInto('audit_events')
    .values({
      id: record.id,
      tenant_id: record.tenantId,
      seq: record.seq,
      version: record.v,
      prev_hash: record.prevHash,
      hash: record.hash,
      time: record.time,
      actor_kind: record.actor.kind,
      actor_id: record.actor.id,
      actor_name: record.actor.name,
      action: record.action,
      entity_type: record.entity.type,
      entity_id: record.entity.id,
      before: record.before === null ? null : JSON.stringify(record.before),
      after: record.after === null ? null : JSON.stringify(record.after),
      outcome: record.outcome,
      source_ip: record.sourceIp,
      user_agent: record.userAgent,
      request_id: record.requestId,
    })
    .execute();
  return record;
}

/** Locks the tenant's chain head, creating it at genesis on the tenant's first event. */
async function lockChainHead(tx: Tx, tenantId: string): Promise<{ seq: number; hash: string }> {
  const select = () =>
    tx
      .selectFrom('audit_chain_heads')
      .select(['seq', 'hash'])
      .where('tenant_id', '=', tenantId)
      .forUpdate()
      .executeTakeFirst();
  const existing = await select();
  if (existing) return { seq: Number(existing.seq), hash: existing.hash };
  // Two first events racing: one insert wins, the other waits on it and then does nothing;
  // both then queue on the row lock.
  await tx
    .insertInto('audit_chain_heads')
    .values({ tenant_id: tenantId, seq: 0, hash: GENESIS_HASH })
    .onConflict((oc) => oc.column('tenant_id').doNothing())
    .execute();
  const created = await select();
  if (!created) throw new Error('audit chain head is not visible in this tenant context');
  return { seq: Number(created.seq), hash: created.hash };
}
