/**
 * Capability and flag bit sets, as plain bigint values.
 *
 * The wire fields are uint64, which the generated code exposes as bigint;
 * keeping every bit set as bigint avoids silent truncation above 2^53 and
 * lets the helpers accept both the generated enum members and raw numbers.
 */

/** Agent capability bits (AgentToServer.capabilities). */
export const AgentCapability = {
  ReportsStatus: 0x1n,
  AcceptsRemoteConfig: 0x2n,
  ReportsEffectiveConfig: 0x4n,
  AcceptsPackages: 0x8n,
  ReportsPackageStatuses: 0x10n,
  ReportsOwnTraces: 0x20n,
  ReportsOwnMetrics: 0x40n,
  ReportsOwnLogs: 0x80n,
  AcceptsOpAMPConnectionSettings: 0x100n,
  AcceptsOtherConnectionSettings: 0x200n,
  AcceptsRestartCommand: 0x400n,
  ReportsHealth: 0x800n,
  ReportsRemoteConfig: 0x1000n,
  ReportsHeartbeat: 0x2000n,
  ReportsAvailableComponents: 0x4000n,
  ReportsConnectionSettingsStatus: 0x8000n,
} as const;
export type AgentCapabilityName = keyof typeof AgentCapability;

/** Server capability bits (ServerToAgent.capabilities). */
export const ServerCapability = {
  AcceptsStatus: 0x1n,
  OffersRemoteConfig: 0x2n,
  AcceptsEffectiveConfig: 0x4n,
  OffersPackages: 0x8n,
  AcceptsPackagesStatus: 0x10n,
  OffersConnectionSettings: 0x20n,
  AcceptsConnectionSettingsRequest: 0x40n,
} as const;
export type ServerCapabilityName = keyof typeof ServerCapability;

/** AgentToServer.flags bits. */
export const AgentToServerFlag = { RequestInstanceUid: 0x1n } as const;

/** ServerToAgent.flags bits. */
export const ServerToAgentFlag = { ReportFullState: 0x1n, ReportAvailableComponents: 0x2n } as const;

function orAll(bits: Record<string, bigint>): bigint {
  return Object.values(bits).reduce((mask, bit) => mask | bit, 0n);
}

/** Every agent capability bit this implementation knows. */
export const DEFINED_AGENT_CAPABILITIES: bigint = orAll(AgentCapability);
/** Every server capability bit the spec defines; anything else must stay 0 (S-5). */
export const DEFINED_SERVER_CAPABILITIES: bigint = orAll(ServerCapability);

/** Converts a generated enum member, a number or a bigint into a bigint bit set. */
export function toBits(value: bigint | number): bigint {
  return typeof value === 'bigint' ? value : BigInt(value);
}

/** True when every bit of `flag` is set in `caps`. */
export function has(caps: bigint | number, flag: bigint | number): boolean {
  const f = toBits(flag);
  return f !== 0n && (toBits(caps) & f) === f;
}

/** Combines flags into one bit set. */
export function combine(...flags: ReadonlyArray<bigint | number>): bigint {
  return flags.reduce<bigint>((acc, flag) => acc | toBits(flag), 0n);
}

function namesOf(caps: bigint, table: Record<string, bigint>, defined: bigint): string[] {
  const names = Object.entries(table)
    .filter(([, bit]) => (caps & bit) !== 0n)
    .map(([name]) => name);
  const unknown = caps & ~defined;
  // Undefined bits from newer peers are shown, not dropped, so operators can
  // see what an agent claims; they are never acted upon.
  if (unknown !== 0n) names.push(`Unknown(0x${unknown.toString(16)})`);
  return names;
}

/** Names of the agent capability bits set in `caps`, for display. */
export function agentCapabilityNames(caps: bigint | number): string[] {
  return namesOf(toBits(caps), AgentCapability, DEFINED_AGENT_CAPABILITIES);
}

/** Names of the server capability bits set in `caps`, for display. */
export function serverCapabilityNames(caps: bigint | number): string[] {
  return namesOf(toBits(caps), ServerCapability, DEFINED_SERVER_CAPABILITIES);
}

/**
 * The capability set a server may advertise: the requested bits restricted
 * to defined ones (S-5), with AcceptsStatus always on (S-4).
 */
export function serverCapabilities(...flags: ReadonlyArray<bigint | number>): bigint {
  return (combine(...flags) & DEFINED_SERVER_CAPABILITIES) | ServerCapability.AcceptsStatus;
}
