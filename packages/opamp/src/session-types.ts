/**
 * Types shared by the agent session state machine and its callers.
 */
import type {
  AgentDescription,
  AgentRemoteConfig,
  AvailableComponents,
  ComponentHealth,
  ConnectionSettingsOffers,
  ConnectionSettingsRequest,
  ConnectionSettingsStatus,
  CustomCapabilities,
  CustomMessage,
  EffectiveConfig,
  PackageStatuses,
  PackagesAvailable,
  RemoteConfigStatus,
  ServerToAgent,
  ServerToAgentCommand,
} from './gen/opamp_pb';
import type { InstanceUidSource } from './uuid';
import type { ErrorKind, ValidAgentToServer } from './validate';

export type Transport = 'websocket' | 'http';

/**
 * Protocol state kept per agent, across connections and server restarts
 * (sequence state belongs to the agent, not the connection — A-8). The
 * gateway persists it with the agent and passes it back when it creates a
 * session for that agent.
 */
export interface AgentProtocolState {
  /** Last sequence_num received. */
  sequenceNum: bigint;
  /** Last non-zero capability set the agent reported; 0 while never reported. */
  capabilities: bigint;
  /** Custom capabilities the agent last listed (custom messages are gated on them, X-5). */
  customCapabilities: readonly string[];
  /** Heartbeat interval this server last delivered in an opamp offer; 0 when none (N-28). */
  heartbeatIntervalSeconds: number;
}

/** Server-wide settings, shared by every session. */
export interface SessionConfig {
  transport: Transport;
  /** Server capabilities; undefined bits are dropped and AcceptsStatus forced on (S-4, S-5). */
  serverCapabilities: bigint;
  /**
   * Agent capabilities the server is willing to use (`OpAmp:AllowedCapabilityFlags`).
   * Offers are gated on `reported & mask`. Default: every bit.
   */
  agentCapabilityMask?: bigint;
  /**
   * Interval written into every opamp connection-settings offer that leaves
   * it at 0 (G-2, N-25). Default 30 (N-26). 0 means "heartbeats off".
   */
  heartbeatIntervalSeconds?: number;
  /** Silence after which a heartbeating agent counts as stale. Default: 3 × the delivered interval. */
  heartbeatWindowSeconds?: number;
  /** Server custom capabilities, announced once per session when non-empty. */
  serverCustomCapabilities?: readonly string[];
}

export interface SessionDeps {
  /** Current time in Unix milliseconds. */
  now: () => number;
  /** Source of UUIDv7 uids for RequestInstanceUid and duplicate handling (A-10..A-12). */
  newInstanceUid: InstanceUidSource;
}

export interface CreateSessionOptions extends SessionDeps {
  config: SessionConfig;
  /** The uid the agent uses (from its first message on this stream). */
  instanceUid: Uint8Array;
  /** What the store holds for this uid; absent for an agent the server does not know. */
  stored?: AgentProtocolState;
}

/**
 * Status sections present in a message. Each one present replaces the
 * stored section whole; each one absent means "unchanged".
 */
export interface StatusSections {
  agentDescription?: AgentDescription;
  health?: ComponentHealth;
  effectiveConfig?: EffectiveConfig;
  remoteConfigStatus?: RemoteConfigStatus;
  packageStatuses?: PackageStatuses;
  customCapabilities?: CustomCapabilities;
  availableComponents?: AvailableComponents;
  connectionSettingsStatus?: ConnectionSettingsStatus;
}

/** Why a reply asks for the full state. */
export type FullStateReason = 'unknown_agent' | 'sequence_gap' | 'requested' | 'previous_failure';

/** Something the server wants to deliver; the session keeps only the latest of each kind (S-13). */
export type Offer =
  | { kind: 'remoteConfig'; remoteConfig: AgentRemoteConfig }
  | { kind: 'connectionSettings'; connectionSettings: ConnectionSettingsOffers }
  | { kind: 'packages'; packagesAvailable: PackagesAvailable }
  | { kind: 'command'; command: ServerToAgentCommand }
  | { kind: 'customMessage'; customMessage: CustomMessage };

export type OfferKind = Offer['kind'];

export type OfferRefusal = 'server_capability' | 'agent_capability' | 'invalid';

export type OfferResult = { ok: true } | { ok: false; reason: OfferRefusal; detail: string };

/** What the session learned from one AgentToServer. */
export interface Inbound {
  /** The uid the message carried; the reply echoes it (S-3). */
  readonly instanceUid: Uint8Array;
  readonly sequenceNum: bigint;
  /** Sections to persist. */
  readonly sections: StatusSections;
  /** True when the message carried no status section (a heartbeat or poll). */
  readonly statusOmitted: boolean;
  /** Capability set in force after this message. */
  readonly capabilities: bigint;
  readonly capabilitiesChanged: boolean;
  /** Set when the reply will carry ReportFullState. */
  readonly fullState?: FullStateReason;
  /** A uid assigned in this reply because the agent asked. */
  readonly newInstanceUid?: Uint8Array;
  /** The message used a uid this session assigned earlier; `session.instanceUid` now holds it. */
  readonly adoptedInstanceUid: boolean;
  /** The agent is going away; drop its association with the stream after replying (C-4). */
  readonly disconnect: boolean;
  /** Agent-initiated request (CSR flow), for the gateway to act on. */
  readonly connectionSettingsRequest?: ConnectionSettingsRequest;
  readonly customMessage?: CustomMessage;
  /** Pending offers dropped because the agent no longer has the capability they need (A-3, S-11). */
  readonly withdrawn: readonly OfferKind[];
  /** The agent can take a heartbeat interval and has not yet been given the configured one. */
  readonly heartbeatOfferDue: boolean;
  /** Builds the reply (S-1, S-2). Call exactly one of `reply` or `reject`, once. */
  reply(): ServerToAgent;
  /** Builds an error reply instead (S-8, S-10); the next message is asked for the full state. */
  reject(kind: ErrorKind, message: string, retryAfterMs?: number): ServerToAgent;
}

/** Result of the one-call convenience `handle`. */
export interface HandleResult {
  inbound: Inbound;
  reply: ServerToAgent;
  state: AgentProtocolState;
}

export interface AgentSession {
  /** The agent's current uid; changes when it adopts an assigned one. */
  readonly instanceUid: Uint8Array;
  /** Protocol state to persist; undefined until the agent is known. */
  readonly state: AgentProtocolState | undefined;
  /** Agent capabilities in force: last reported set restricted by the mask. */
  readonly capabilities: bigint;
  /** Time of the last message received, in Unix milliseconds. */
  readonly lastMessageAt: number | undefined;
  /** Feeds one validated message. */
  receive(msg: ValidAgentToServer): Inbound;
  /** `receive` plus `reply` in one call, for callers with nothing to decide in between. */
  handle(msg: ValidAgentToServer): HandleResult;
  /** Queues an offer, replacing a pending one of the same kind (S-13). */
  offer(offer: Offer): OfferResult;
  /** Drops a pending offer of this kind. */
  withdraw(kind: OfferKind): void;
  /** Kinds of offers waiting for delivery. */
  pendingOffers(): OfferKind[];
  /** Sets ReportFullState on the next message, e.g. when stored sections were lost. */
  requestFullState(): void;
  /** Asks for the full component map (V-1); needs ReportsAvailableComponents (V-3). */
  requestAvailableComponents(): OfferResult;
  /** Assigns a fresh uid, e.g. for a detected duplicate (C-8, C-9). Returns it. */
  assignNewInstanceUid(): Uint8Array;
  /**
   * The next unsolicited message carrying pending items, or undefined. On
   * WebSocket call it after each reply and after each offer until it
   * returns undefined; over HTTP never — items wait for the next poll.
   */
  push(): ServerToAgent | undefined;
  /** Returns the state when it changed since the last call (for coalesced writes). */
  takeStateUpdate(): AgentProtocolState | undefined;
  /**
   * When a silent agent counts as stale: only for agents with ReportsHeartbeat
   * that this server gave an interval (N-27, N-28). Undefined otherwise.
   */
  staleAt(): number | undefined;
}
