import type { Database } from '@ampora/db';

export interface AuditRow {
  action: string;
  tenant_id: string;
  actor_kind: string;
  actor_id: string;
  actor_name: string;
  entity_type: string;
  entity_id: string | null;
  outcome: string;
  before: any;
  after: any;
}

export interface AuditRowFilter {
  tenantId?: string;
  entityId?: string;
}

/**
 * Audit rows of one action (or any of several) in append order, read as the owner: tests look across
 * tenants, and the owner is not bound by row-level security.
 */
export async function auditRows(
  owner: Database,
  action: string | readonly string[],
  filter: AuditRowFilter = {},
): Promise<AuditRow[]> {
  let query = owner
    .selectFrom('audit_events')
    .select([
      'action',
      'tenant_id',
      'actor_kind',
      'actor_id',
      'actor_name',
      'entity_type',
      'entity_id',
      'outcome',
      'before',
      'after',
    ])
    .where('action', 'in', typeof action === 'string' ? [action] : [...action]);
  if (filter.tenantId !== undefined) query = query.where('tenant_id', '=', filter.tenantId);
  if (filter.entityId !== undefined) query = query.where('entity_id', '=', filter.entityId);
  return query.orderBy('seq').execute();
}
