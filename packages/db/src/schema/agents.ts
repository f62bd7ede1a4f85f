import type { ColumnType, Generated } from 'kysely';
import type { CreatedAt, Timestamp } from './core.js';

/** JSON as stored: any proto3-JSON section. */
export type Json = ColumnType<unknown, string, string>;

export interface AgentsTable {
  tenant_id: string;
  id: string;
  instance_uid: Buffer;
  attributes: ColumnType<Record<string, string>, string | undefined, string>;
  agent_type: string | null;
  agent_version: string | null;
  host_name: string | null;
  description: Json | null;
  capabilities: Generated<number>;
  health: Json | null;
  healthy: boolean | null;
  effective_config: Json | null;
  effective_config_hash: string | null;
  remote_config_status: Json | null;
  package_statuses: Json | null;
  available_components: Json | null;
  custom_capabilities: Json | null;
  connection_settings_status: Json | null;
  remote_config: Json | null;
  remote_config_hash: string | null;
  sequence_num: Generated<number>;
  connected: Generated<boolean>;
  transport: 'websocket' | 'http' | null;
  remote_address: string | null;
  first_seen_at: CreatedAt;
  last_seen_at: Timestamp;
  connected_at: Timestamp | null;
  disconnected_at: Timestamp | null;
  updated_at: Timestamp;
}

export interface AgentTables {
  agents: AgentsTable;
}
