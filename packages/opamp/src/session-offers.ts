/**
 * Capability gating and sanity checks for server → agent offers. Pure
 * functions: given the offer and the capabilities in force, say whether it
 * may be sent (S-7, S-11, R-1, N-1, P-1, K-1, X-5).
 */
import { AgentCapability as A, ServerCapability as S, has } from './capabilities';
import type { ConnectionSettingsOffers, OpAMPConnectionSettings } from './gen/opamp_pb';
import type { Offer, OfferResult } from './session-types';

export interface GateContext {
  /** Server capabilities advertised by this session. */
  server: bigint;
  /** Agent capabilities in force (reported & mask); 0 when never reported. */
  agent: bigint;
  /** Custom capabilities the agent listed. */
  agentCustom: readonly string[];
}

const refuse = (
  reason: 'server_capability' | 'agent_capability' | 'invalid',
  detail: string,
): OfferResult => ({
  ok: false,
  reason,
  detail,
});
const OK: OfferResult = { ok: true };

/** Checks capabilities and the offer's own validity. */
export function gateOffer(offer: Offer, ctx: GateContext): OfferResult {
  const invalid = checkOffer(offer);
  if (invalid) return refuse('invalid', invalid);
  return capabilityGate(offer, ctx);
}

/**
 * Checks only the capabilities, for an offer already found valid: capabilities change with every
 * message, the offer does not.
 */
export function capabilityGate(offer: Offer, ctx: GateContext): OfferResult {
  if (ctx.agent === 0n && offer.kind !== 'customMessage') {
    return refuse('agent_capability', 'the agent has not reported its capabilities yet');
  }
  switch (offer.kind) {
    case 'remoteConfig':
      if (!has(ctx.server, S.OffersRemoteConfig))
        return refuse('server_capability', 'OffersRemoteConfig is off');
      if (!has(ctx.agent, A.AcceptsRemoteConfig))
        return refuse('agent_capability', 'agent lacks AcceptsRemoteConfig');
      return OK;
    case 'packages':
      if (!has(ctx.server, S.OffersPackages)) return refuse('server_capability', 'OffersPackages is off');
      if (!has(ctx.agent, A.AcceptsPackages))
        return refuse('agent_capability', 'agent lacks AcceptsPackages');
      return OK;
    case 'command':
      if (!has(ctx.agent, A.AcceptsRestartCommand)) {
        return refuse('agent_capability', 'agent lacks AcceptsRestartCommand');
      }
      return OK;
    case 'customMessage':
      if (!ctx.agentCustom.includes(offer.customMessage.capability)) {
        return refuse(
          'agent_capability',
          `agent did not list custom capability ${offer.customMessage.capability}`,
        );
      }
      return OK;
    case 'connectionSettings': {
      if (!has(ctx.server, S.OffersConnectionSettings)) {
        return refuse('server_capability', 'OffersConnectionSettings is off');
      }
      const missing = missingConnectionCapabilities(offer.connectionSettings, ctx.agent);
      return missing.length === 0 ? OK : refuse('agent_capability', `agent lacks ${missing.join(', ')}`);
    }
  }
}

/** The agent capabilities a connection-settings offer needs but the agent lacks (N-1). */
function missingConnectionCapabilities(offer: ConnectionSettingsOffers, agent: bigint): string[] {
  const needs: Array<[boolean, keyof typeof A]> = [
    [offer.opamp !== undefined, 'AcceptsOpAMPConnectionSettings'],
    [offer.ownTraces !== undefined, 'ReportsOwnTraces'],
    [offer.ownMetrics !== undefined, 'ReportsOwnMetrics'],
    [offer.ownLogs !== undefined, 'ReportsOwnLogs'],
    [Object.keys(offer.otherConnections).length > 0, 'AcceptsOtherConnectionSettings'],
  ];
  return needs.filter(([needed, cap]) => needed && !has(agent, A[cap])).map(([, cap]) => cap);
}

const OPAMP_URL = /^(wss?|https?):\/\/[^/\s]+/i;

/** Returns why an offer is malformed, or undefined when it is fine. */
function checkOffer(offer: Offer): string | undefined {
  switch (offer.kind) {
    case 'remoteConfig': {
      const rc = offer.remoteConfig;
      if (rc.configHash.length === 0) return 'remote config needs a config_hash (R-2)';
      // An empty map stops the Collector supervisor's Collector (G-1).
      if (!rc.config || Object.keys(rc.config.configMap).length === 0) return 'remote config map is empty';
      return undefined;
    }
    case 'packages':
      return offer.packagesAvailable.allPackagesHash.length === 0
        ? 'packages offer needs all_packages_hash (P-2)'
        : undefined;
    case 'command':
      return undefined;
    case 'customMessage':
      return offer.customMessage.capability === '' ? 'custom message needs a capability' : undefined;
    case 'connectionSettings':
      return checkConnectionSettings(offer.connectionSettings);
  }
}

function checkConnectionSettings(cs: ConnectionSettingsOffers): string | undefined {
  if (cs.hash.length === 0) return 'connection settings need a hash (N-4)';
  const sections = [cs.opamp, cs.ownTraces, cs.ownMetrics, cs.ownLogs].filter((s) => s !== undefined);
  if (sections.length === 0 && Object.keys(cs.otherConnections).length === 0) {
    return 'connection settings offer is empty';
  }
  if (cs.opamp) {
    const problem = checkOpamp(cs.opamp);
    if (problem) return problem;
  }
  for (const [name, s] of [
    ['own_traces', cs.ownTraces],
    ['own_metrics', cs.ownMetrics],
    ['own_logs', cs.ownLogs],
  ] as const) {
    if (s && s.destinationEndpoint === '') return `${name}.destination_endpoint is empty (N-9)`;
    if (s?.certificate && s.certificate.cert.length === 0) return `${name}.certificate.cert is empty (N-8)`;
    if (s?.proxy && s.proxy.url === '') return `${name}.proxy.url is empty (N-11)`;
  }
  for (const [name, s] of Object.entries(cs.otherConnections)) {
    if (s.certificate && s.certificate.cert.length === 0)
      return `other_connections[${name}].certificate.cert is empty`;
    if (s.proxy && s.proxy.url === '') return `other_connections[${name}].proxy.url is empty (N-11)`;
  }
  return undefined;
}

function checkOpamp(o: OpAMPConnectionSettings): string | undefined {
  if (!OPAMP_URL.test(o.destinationEndpoint)) {
    return 'opamp.destination_endpoint must be a non-empty ws, wss, http or https URL (N-3)';
  }
  if (o.certificate && o.certificate.cert.length === 0) return 'opamp.certificate.cert is empty (N-8)';
  if (o.proxy && o.proxy.url === '') return 'opamp.proxy.url is empty (N-11)';
  return undefined;
}
