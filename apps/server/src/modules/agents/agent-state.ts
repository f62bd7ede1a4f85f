/** What one AgentToServer (or a connection event) changes about an agent, in storable form. */
export interface AgentStatePatch {
  tenantId: string;
  /** 16 bytes, hex. */
  instanceUid: string;
  seenAt: Date;
  sequenceNum?: number;
  /** Only when reported: 0 means "not reported" (OpAMP A-4), so it is never stored as a value. */
  capabilities?: number;
  description?: {
    json: unknown;
    attributes: Record<string, string>;
    agentType: string | null;
    agentVersion: string | null;
    hostName: string | null;
  };
  health?: { json: unknown; healthy: boolean | null };
  effectiveConfig?: { json: unknown; hash: string };
  remoteConfigStatus?: unknown;
  packageStatuses?: unknown;
  availableComponents?: unknown;
  customCapabilities?: unknown;
  connectionSettingsStatus?: unknown;
  connected?: boolean;
  transport?: 'websocket' | 'http';
  remoteAddress?: string;
  connectedAt?: Date;
  disconnectedAt?: Date;
}

const SECTIONS = [
  'description',
  'health',
  'effectiveConfig',
  'remoteConfigStatus',
  'packageStatuses',
  'availableComponents',
  'customCapabilities',
  'connectionSettingsStatus',
] as const;

/**
 * Folds a newer patch into an older one for the same agent. A section present in the newer patch
 * replaces the older one whole (OpAMP A-9); everything else keeps the older value.
 */
export function mergePatch(older: AgentStatePatch, newer: AgentStatePatch): AgentStatePatch {
  const merged: AgentStatePatch = { ...older, seenAt: newer.seenAt };
  if (newer.sequenceNum !== undefined) merged.sequenceNum = newer.sequenceNum;
  if (newer.capabilities !== undefined) merged.capabilities = newer.capabilities;
  for (const key of SECTIONS) {
    if (newer[key] !== undefined) (merged as unknown as Record<string, unknown>)[key] = newer[key];
  }
  for (const key of ['connected', 'transport', 'remoteAddress', 'connectedAt', 'disconnectedAt'] as const) {
    if (newer[key] !== undefined) (merged as unknown as Record<string, unknown>)[key] = newer[key];
  }
  return merged;
}

/** True when the patch changes nothing but liveness (a heartbeat or an identical repeat). */
export function isLivenessOnly(p: AgentStatePatch): boolean {
  return (
    p.capabilities === undefined && SECTIONS.every((k) => p[k] === undefined) && p.connected === undefined
  );
}
