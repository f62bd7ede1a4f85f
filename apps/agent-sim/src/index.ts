/**
 * @ampora/agent-sim — a spec-complete OpAMP agent simulator for tests,
 * demos and load tests.
 */
export {
  createCsr,
  credentialsOf,
  generateAgentKey,
  type AgentCredentials,
  type AgentKey,
  type KeyType,
} from './agent-credentials';
export { SimAgent, createSimAgent, type ApplyMode, type ConfigFiles, type HealthInit } from './agent';
export { DEFAULT_CAPABILITIES, type SimAgentOptions, type SimAgentEvents } from './agent-options';
export {
  AgentStatus,
  DEFAULT_EFFECTIVE_CONFIG,
  effectiveConfigOf,
  type BuildOptions,
  type StatusSections,
  type SectionName,
} from './agent-status';
export { startFleet, loopbackAddresses, type Fleet, type FleetOptions } from './fleet';
export { createLatencyRecorder, type LatencyRecorder, type LatencySummary } from './latency';
export {
  HttpStatusError,
  parseRetryAfter,
  transportForUrl,
  type ConnectionOptions,
  type SimTransport,
  type TlsClientOptions,
  type TransportKind,
} from './transport';
export { createWebSocketTransport, type WebSocketTransportOptions } from './transport-ws';
export { createHttpTransport, type HttpTransportOptions } from './transport-http';
