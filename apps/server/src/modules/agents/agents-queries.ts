import { sql } from 'kysely';
import { withTenant, type Database, type IdSource, type Tx } from '@ampora/db';
import { tenantIds } from '../../runtime/scheduled-jobs.js';
import type { AgentStatePatch } from './agent-state.js';

/**
 * Writes a batch of patches for one tenant in two statements: insert unseen agents, then one
 * UPDATE … FROM jsonb_to_recordset that applies every patch. NULL in a patch column means
 * "unchanged", so a heartbeat touches only last_seen_at and sequence_num.
 */
export async function applyPatches(
  db: Database,
  ids: IdSource,
  tenantId: string,
  patches: AgentStatePatch[],
) {
  if (patches.length === 0) return;
  const rows = patches.map((p) => ({
    id: ids.uuid(),
    uid: p.instanceUid,
    seen_at: p.seenAt.toISOString(),
    sequence_num: p.sequenceNum ?? null,
    capabilities: p.capabilities ?? null,
    description: p.description?.json ?? null,
    attributes: p.description?.attributes ?? null,
    agent_type: p.description?.agentType ?? null,
    agent_version: p.description?.agentVersion ?? null,
    host_name: p.description?.hostName ?? null,
    health: p.health?.json ?? null,
    healthy: p.health ? p.health.healthy : null,
    has_health: p.health !== undefined,
    effective_config: p.effectiveConfig?.json ?? null,
    effective_config_hash: p.effectiveConfig?.hash ?? null,
    remote_config_status: p.remoteConfigStatus ?? null,
    package_statuses: p.packageStatuses ?? null,
    available_components: p.availableComponents ?? null,
    custom_capabilities: p.customCapabilities ?? null,
    connection_settings_status: p.connectionSettingsStatus ?? null,
    connected: p.connected ?? null,
    transport: p.transport ?? null,
    remote_address: p.remoteAddress ?? null,
    connected_at: p.connectedAt?.toISOString() ?? null,
    disconnected_at: p.disconnectedAt?.toISOString() ?? null,
  }));
  const payload = JSON.stringify(rows);
  await withTenant(db, tenantId, async (tx) => {
    await sql`
      insert into agents (tenant_id, id, instance_uid, last_seen_at, updated_at)
      select ${tenantId}::uuid, x.id, decode(x.uid, 'hex'), x.seen_at, x.seen_at
      from jsonb_to_recordset(${payload}::jsonb) as x(id uuid, uid text, seen_at timestamptz)
      on conflict (tenant_id, instance_uid) do nothing`.execute(tx);
    await sql`
      update agents a set
        last_seen_at = greatest(a.last_seen_at, x.seen_at),
        updated_at = now(),
        sequence_num = coalesce(x.sequence_num, a.sequence_num),
        capabilities = coalesce(x.capabilities, a.capabilities),
        description = coalesce(x.description, a.description),
        attributes = case when x.description is null then a.attributes else coalesce(x.attributes, '{}'::jsonb) end,
        agent_type = case when x.description is null then a.agent_type else x.agent_type end,
        agent_version = case when x.description is null then a.agent_version else x.agent_version end,
        host_name = case when x.description is null then a.host_name else x.host_name end,
        health = coalesce(x.health, a.health),
        healthy = case when x.has_health then x.healthy else a.healthy end,
        effective_config = coalesce(x.effective_config, a.effective_config),
        effective_config_hash = coalesce(x.effective_config_hash, a.effective_config_hash),
        remote_config_status = coalesce(x.remote_config_status, a.remote_config_status),
        package_statuses = coalesce(x.package_statuses, a.package_statuses),
        available_components = coalesce(x.available_components, a.available_components),
        custom_capabilities = coalesce(x.custom_capabilities, a.custom_capabilities),
        connection_settings_status = coalesce(x.connection_settings_status, a.connection_settings_status),
        connected = coalesce(x.connected, a.connected),
        transport = coalesce(x.transport, a.transport),
        remote_address = coalesce(x.remote_address, a.remote_address),
        connected_at = coalesce(x.connected_at, a.connected_at),
        disconnected_at = coalesce(x.disconnected_at, a.disconnected_at)
      from jsonb_to_recordset(${payload}::jsonb) as x(
        uid text, seen_at timestamptz, sequence_num bigint, capabilities bigint,
        description jsonb, attributes jsonb, agent_type text, agent_version text, host_name text,
        health jsonb, healthy boolean, has_health boolean, effective_config jsonb, effective_config_hash text,
        remote_config_status jsonb, package_statuses jsonb, available_components jsonb,
        custom_capabilities jsonb, connection_settings_status jsonb, connected boolean, transport text,
        remote_address text, connected_at timestamptz, disconnected_at timestamptz)
      where a.tenant_id = ${tenantId}::uuid and a.instance_uid = decode(x.uid, 'hex')`.execute(tx);
  });
}

export interface AgentListFilter {
  connected?: boolean;
  /** Every bit must be set. */
  capabilityMask?: number;
  /** Every key must have exactly this value. */
  attributes?: Record<string, string>;
  /** Return agents with an id greater than this (cursor). */
  after?: string;
  limit: number;
}

const SUMMARY_COLUMNS = [
  'id',
  'instance_uid',
  'agent_type',
  'agent_version',
  'host_name',
  'attributes',
  'capabilities',
  'healthy',
  'effective_config_hash',
  'connected',
  'transport',
  'remote_address',
  'first_seen_at',
  'last_seen_at',
] as const;

export function listAgents(tx: Tx, f: AgentListFilter) {
  let q = tx.selectFrom('agents').select(SUMMARY_COLUMNS).orderBy('id').limit(f.limit);
  if (f.connected !== undefined) q = q.where('connected', '=', f.connected);
  if (f.capabilityMask) q = q.where(sql<boolean>`(capabilities & ${f.capabilityMask}) = ${f.capabilityMask}`);
  if (f.attributes && Object.keys(f.attributes).length) {
    q = q.where(sql<boolean>`attributes @> ${JSON.stringify(f.attributes)}::jsonb`);
  }
  if (f.after) q = q.where('id', '>', f.after);
  return q.execute();
}

export function getAgent(tx: Tx, id: string) {
  return tx.selectFrom('agents').selectAll().where('id', '=', id).executeTakeFirst();
}

/** What the gateway needs about agents when their sessions start, for many uids at once. */
export function getAssignmentsByUid(tx: Tx, instanceUidsHex: string[]) {
  return tx
    .selectFrom('agents')
    .select(['id', 'instance_uid', 'remote_config', 'remote_config_hash', 'remote_config_status'])
    .where(
      'instance_uid',
      'in',
      instanceUidsHex.map((h) => Buffer.from(h, 'hex')),
    )
    .execute();
}

export function setRemoteConfig(tx: Tx, id: string, config: unknown, hash: string) {
  return tx
    .updateTable('agents')
    .set({ remote_config: JSON.stringify(config), remote_config_hash: hash, updated_at: new Date() })
    .where('id', '=', id)
    .returning(['id', 'instance_uid'])
    .executeTakeFirst();
}

/** At start-up nothing is connected to this instance yet; rows left "connected" by a crash are stale. */
export async function markAllDisconnected(db: Database, now: Date) {
  // Runs per tenant because RLS hides other tenants' rows from the app role.
  for (const id of await tenantIds(db)) {
    await withTenant(db, id, (tx) =>
      tx
        .updateTable('agents')
        .set({ connected: false, disconnected_at: now, updated_at: now })
        .where('connected', '=', true)
        .execute(),
    );
  }
}
