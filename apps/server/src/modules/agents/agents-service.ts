import { agentCapabilityNames, AgentCapability, uuidToString, type AgentCapabilityName } from '@ampora/opamp';
import { withTenant, type Database } from '@ampora/db';
import { decodeIdCursor, encodeIdCursor } from '../../http/cursor.js';
import { problems } from '../../http/problem.js';
import { getAgent, listAgents } from './agents-queries.js';

export interface AgentsServiceDeps {
  db: Database;
}

export interface ListQuery {
  connected?: boolean;
  capability?: string | string[];
  attribute?: string | string[];
  cursor?: string;
  limit: number;
}

/** The columns a list shows; the detail view reads every column and shows these too. */
type SummaryRow = Awaited<ReturnType<typeof listAgents>>[number];

const asList = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

function summary(r: SummaryRow) {
  return {
    id: r.id,
    instanceUid: uuidToString(r.instance_uid),
    agentType: r.agent_type,
    agentVersion: r.agent_version,
    hostName: r.host_name,
    attributes: r.attributes ?? {},
    capabilities: agentCapabilityNames(r.capabilities),
    healthy: r.healthy,
    effectiveConfigHash: r.effective_config_hash,
    connected: r.connected,
    transport: r.transport,
    remoteAddress: r.remote_address,
    firstSeenAt: r.first_seen_at.toISOString(),
    lastSeenAt: r.last_seen_at.toISOString(),
  };
}

interface ComponentHealthJson {
  healthy?: boolean;
  status?: string;
  lastError?: string;
  startTimeUnixNano?: string;
  statusTimeUnixNano?: string;
  componentHealthMap?: Record<string, ComponentHealthJson>;
}

export interface HealthNode {
  name: string;
  healthy: boolean;
  status: string | null;
  lastError: string | null;
  startTime: string | null;
  statusTime: string | null;
  children: HealthNode[];
}

const nanosToIso = (n?: string) =>
  n && n !== '0' ? new Date(Number(BigInt(n) / 1_000_000n)).toISOString() : null;

/** Turns the stored ComponentHealth (proto3 JSON) into a tree the UI can render directly. */
export function decodeHealth(name: string, h: ComponentHealthJson): HealthNode {
  return {
    name,
    healthy: h.healthy ?? false,
    status: h.status || null,
    lastError: h.lastError || null,
    startTime: nanosToIso(h.startTimeUnixNano),
    statusTime: nanosToIso(h.statusTimeUnixNano),
    children: Object.entries(h.componentHealthMap ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([child, value]) => decodeHealth(child, value)),
  };
}

const TEXTUAL = /^(text\/|application\/(json|yaml|x-yaml|toml))|yaml|json/i;

function decodeEffectiveConfig(json: unknown, hash: string | null) {
  const map =
    (json as { configMap?: { configMap?: Record<string, { body?: string; contentType?: string }> } })
      ?.configMap?.configMap ?? {};
  const files: Record<string, { contentType: string; body: string; encoding: 'utf8' | 'base64' }> = {};
  for (const [name, file] of Object.entries(map)) {
    const contentType = file.contentType ?? '';
    const raw = Buffer.from(file.body ?? '', 'base64');
    const textual = TEXTUAL.test(contentType) || (contentType === '' && !raw.includes(0));
    files[name] = textual
      ? { contentType, body: raw.toString('utf8'), encoding: 'utf8' }
      : { contentType, body: raw.toString('base64'), encoding: 'base64' };
  }
  return { hash, files };
}

export function createAgentsService(deps: AgentsServiceDeps) {
  return {
    async list(tenantId: string, q: ListQuery) {
      let mask = 0n;
      for (const name of asList(q.capability)) {
        const bit = AgentCapability[name as AgentCapabilityName];
        if (bit === undefined) throw problems.badRequest(`unknown capability "${name}"`);
        mask |= BigInt(bit);
      }
      const attributes: Record<string, string> = {};
      for (const pair of asList(q.attribute)) {
        const i = pair.indexOf('=');
        attributes[pair.slice(0, i)] = pair.slice(i + 1);
      }
      const rows = await withTenant(deps.db, tenantId, (tx) =>
        listAgents(tx, {
          connected: q.connected,
          capabilityMask: Number(mask),
          attributes,
          after: q.cursor ? decodeIdCursor(q.cursor) : undefined,
          limit: q.limit + 1,
        }),
      );
      const page = rows.slice(0, q.limit);
      return {
        items: page.map(summary),
        nextCursor: rows.length > q.limit ? encodeIdCursor(page[page.length - 1]!.id) : null,
      };
    },

    /** Cross-tenant ids are invisible under RLS and answer 404, exactly like unknown ids. */
    async get(tenantId: string, id: string) {
      const r = await withTenant(deps.db, tenantId, (tx) => getAgent(tx, id));
      if (!r) throw problems.notFound('agent not found');
      return {
        ...summary(r),
        capabilityBits: r.capabilities,
        description: r.description ?? null,
        health: r.health ? decodeHealth('agent', r.health as ComponentHealthJson) : null,
        effectiveConfig: r.effective_config
          ? decodeEffectiveConfig(r.effective_config, r.effective_config_hash)
          : null,
        remoteConfigStatus: r.remote_config_status ?? null,
        packageStatuses: r.package_statuses ?? null,
        availableComponents: r.available_components ?? null,
        customCapabilities: r.custom_capabilities ?? null,
        connectionSettingsStatus: r.connection_settings_status ?? null,
        sequenceNum: r.sequence_num,
        connectedAt: r.connected_at?.toISOString() ?? null,
        disconnectedAt: r.disconnected_at?.toISOString() ?? null,
      };
    },
  };
}

export type AgentsService = ReturnType<typeof createAgentsService>;
