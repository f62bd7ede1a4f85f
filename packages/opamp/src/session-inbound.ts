/**
 * Pure helpers for reading an inbound AgentToServer and shaping offers.
 */
import { AgentCapability as A, has } from './capabilities';
import type { Offer, StatusSections } from './session-types';
import type { ValidAgentToServer } from './validate';

/**
 * Every opamp offer states the interval explicitly: some clients read a
 * missing value as 0 and stop heartbeating (G-2). A caller that sets a
 * non-zero interval keeps it.
 */
export function withHeartbeat(offer: Offer, interval: number): Offer {
  if (offer.kind !== 'connectionSettings' || !offer.connectionSettings.opamp) return offer;
  if (offer.connectionSettings.opamp.heartbeatIntervalSeconds !== 0n) return offer;
  const opamp = { ...offer.connectionSettings.opamp, heartbeatIntervalSeconds: BigInt(interval) };
  return { kind: 'connectionSettings', connectionSettings: { ...offer.connectionSettings, opamp } };
}

/**
 * Whether a report from an agent the server has no state for carries
 * enough to skip ReportFullState: a description, capabilities, and
 * the health and effective config its capabilities promise. Remote-config
 * and package statuses are not required: a fresh agent may have none.
 */
export function looksComplete(msg: ValidAgentToServer): boolean {
  const caps = msg.capabilities;
  return (
    msg.agentDescription !== undefined &&
    caps !== 0n &&
    (!has(caps, A.ReportsHealth) || msg.health !== undefined) &&
    (!has(caps, A.ReportsEffectiveConfig) || msg.effectiveConfig !== undefined)
  );
}

export function sectionsOf(msg: ValidAgentToServer): StatusSections {
  const s: StatusSections = {};
  if (msg.agentDescription) s.agentDescription = msg.agentDescription;
  if (msg.health) s.health = msg.health;
  if (msg.effectiveConfig) s.effectiveConfig = msg.effectiveConfig;
  if (msg.remoteConfigStatus) s.remoteConfigStatus = msg.remoteConfigStatus;
  if (msg.packageStatuses) s.packageStatuses = msg.packageStatuses;
  if (msg.customCapabilities) s.customCapabilities = msg.customCapabilities;
  if (msg.availableComponents) s.availableComponents = msg.availableComponents;
  if (msg.connectionSettingsStatus) s.connectionSettingsStatus = msg.connectionSettingsStatus;
  return s;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
