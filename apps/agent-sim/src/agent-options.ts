/**
 * Options, events and defaults of a simulated agent.
 */
import {
  AgentCapability as A,
  combine,
  type ConnectionSettingsOffers,
  type CustomMessage,
  type RemoteConfigStatus,
  type ServerErrorResponse,
  type ServerToAgent,
  type ServerToAgentCommand,
} from '@ampora/opamp';
import type { SimAgent } from './agent';
import type { AgentCredentials, KeyType } from './agent-credentials';
import type { ApplyMode } from './agent-offers';
import type { ConfigFiles, HealthInit } from './agent-status';
import type { LatencyRecorder } from './latency';
import type { ConnectionOptions, HttpStatusError, TransportKind } from './transport';

/** What the simulator reports unless told otherwise: a Collector managed by a supervisor, fully featured. */
export const DEFAULT_CAPABILITIES = combine(
  A.ReportsStatus,
  A.AcceptsRemoteConfig,
  A.ReportsEffectiveConfig,
  A.AcceptsPackages,
  A.ReportsPackageStatuses,
  A.AcceptsOpAMPConnectionSettings,
  A.AcceptsRestartCommand,
  A.ReportsHealth,
  A.ReportsRemoteConfig,
  A.ReportsHeartbeat,
  A.ReportsConnectionSettingsStatus,
);

export interface SimAgentOptions extends ConnectionOptions {
  /** Inferred from the URL scheme when absent. */
  transport?: TransportKind;
  instanceUid?: Uint8Array;
  /** Ask the server to assign a uid (RequestInstanceUid) until it does. */
  requestInstanceUid?: boolean;
  capabilities?: bigint;
  description?: { identifying?: Record<string, string>; nonIdentifying?: Record<string, string> };
  effectiveConfig?: ConfigFiles;
  health?: HealthInit;
  customCapabilities?: string[];
  /** How remote configs are handled: applied (APPLIED) or refused (FAILED). */
  applyMode?: ApplyMode;
  applyDelayMs?: number;
  failMessage?: string;
  /** Local heartbeat / poll interval until the server offers one. Default 30; 0 = no WS heartbeats. */
  heartbeatIntervalSeconds?: number;
  /** Send heartbeats with capabilities 0 ("not reported"). */
  omitCapabilitiesOnHeartbeat?: boolean;
  /** Send every section after a reconnect (default) rather than only changed ones. */
  fullStateOnReconnect?: boolean;
  /** Reconnect after an unexpected WebSocket close. Default true. */
  reconnect?: boolean;
  reconnectDelayMs?: number;
  /** HTTP: gzip bodies and accept gzip replies. */
  gzip?: boolean;
  /** WebSocket: offer permessage-deflate. */
  compression?: boolean;
  replyTimeoutMs?: number;
  /** WebSocket opening-handshake timeout (default 10 s); raise it when a whole fleet connects at once. */
  connectTimeoutMs?: number;
  latency?: LatencyRecorder;
  now?: () => number;
  randomBytes?: (length: number) => Uint8Array;
  /** Enrolls with this bootstrap token (sent as `Authorization: Bearer`), then reconnects with mTLS. */
  bootstrapToken?: string;
  /** Enrollment and renewal use the CSR flow (the key never leaves the agent); otherwise the server makes the key. */
  csr?: boolean;
  /** Key type for CSRs. Default ec (P-256). */
  keyType?: KeyType;
  /** Already enrolled: connect with these credentials (mTLS). */
  credentials?: AgentCredentials;
  /** CSR agents ask for a new certificate once this fraction of its lifetime has passed. Default 2/3. */
  renewAtFraction?: number;
  /** Claim this uid in the enrollment CSR instead of the agent's own (fault injection). */
  csrClaimUid?: string;
  /**
   * Extension point for certificate handling: called for each new
   * connection-settings offer; throwing reports FAILED.
   */
  onConnectionSettings?: (offers: ConnectionSettingsOffers, agent: SimAgent) => void | Promise<void>;
}

export interface SimAgentEvents {
  connected: [];
  disconnected: [{ code: number; reason: string }];
  message: [ServerToAgent];
  serverError: [ServerErrorResponse];
  httpError: [HttpStatusError];
  remoteConfig: [{ hash: Uint8Array; status: RemoteConfigStatus }];
  connectionSettings: [ConnectionSettingsOffers];
  command: [ServerToAgentCommand];
  customMessage: [CustomMessage];
  /** New client credentials are in use (after enrollment or renewal). */
  credentials: [AgentCredentials];
  instanceUidChanged: [{ previous: Uint8Array; current: Uint8Array }];
  protocolError: [Error];
  transportError: [Error];
}
