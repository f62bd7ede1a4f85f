import { sql } from 'kysely';
import type { Database } from '@ampora/db';

export interface AuditRow {
  actor_kind: string;
  actor_id: string;
  actor_name: string;
  entity_id: string | null;
  outcome: string;
  after: any;
}

/**
 * Audit rows of one action in append order, read as the owner: tests look across tenants, and the
 * owner is not bound by row-level security.
 */
export async function auditRows(owner: Database, action: string): Promise<AuditRow[]> {
  const { rows } = await sql<AuditRow>`
    select actor_kind, actor_id, actor_name, entity_id, outcome, after
    from audit_events where action = ${action} order by seq`.execute(owner);
  return rows;
}
