import type { Tx } from '@ampora/db';

export interface AuditEventFilter {
  tenantId: string;
  /** Matches the actor id or the actor name. */
  actor?: string;
  actorKind?: string;
  entityType?: string;
  entityId?: string;
  /** Exact action, or a prefix given as `pki.*`. */
  action?: string;
  outcome?: string;
  from?: Date;
  to?: Date;
  /** Only events with a seq below this (keyset pagination, newest first). */
  beforeSeq?: number;
}

type EventTable = 'audit_events' | 'audit_events_archive';

/** `%`, `_` and `\` are LIKE metacharacters; a prefix is matched literally. */
const likePrefix = (prefix: string) => prefix.replace(/[\\%_]/g, (c) => `\\${c}`) + '%';

/**
 * One page of a tenant's events from one tier, newest first by seq. seq orders a tenant's events
 * totally and is unique, so it is the whole keyset: a page never skips or repeats an event, even
 * when two events share a timestamp or replica clocks disagree.
 */
export async function listEventsPage(tx: Tx, table: EventTable, f: AuditEventFilter, limit: number) {
  let q = tx
    .selectFrom(table)
    .select([
      'id',
      'seq',
      'time',
      'actor_kind',
      'actor_id',
      'actor_name',
      'action',
      'entity_type',
      'entity_id',
      'before',
      'after',
      'outcome',
      'source_ip',
      'user_agent',
      'request_id',
      'prev_hash',
      'hash',
    ])
    .where('tenant_id', '=', f.tenantId);
  if (f.actor !== undefined) {
    const actor = f.actor;
    q = q.where((eb) => eb.or([eb('actor_id', '=', actor), eb('actor_name', '=', actor)]));
  }
  if (f.actorKind !== undefined) q = q.where('actor_kind', '=', f.actorKind);
  if (f.entityType !== undefined) q = q.where('entity_type', '=', f.entityType);
  if (f.entityId !== undefined) q = q.where('entity_id', '=', f.entityId);
  if (f.action !== undefined) {
    q = f.action.endsWith('.*')
      ? q.where('action', 'like', likePrefix(f.action.slice(0, -1)))
      : q.where('action', '=', f.action);
  }
  if (f.outcome !== undefined) q = q.where('outcome', '=', f.outcome);
  if (f.from !== undefined) q = q.where('time', '>=', f.from);
  if (f.to !== undefined) q = q.where('time', '<', f.to);
  if (f.beforeSeq !== undefined) q = q.where('seq', '<', f.beforeSeq);
  const rows = await q.orderBy('seq', 'desc').limit(limit).execute();
  return rows.map((r) => ({ ...r, archived: table === 'audit_events_archive' }));
}

export type AuditEventRow = Awaited<ReturnType<typeof listEventsPage>>[number];
