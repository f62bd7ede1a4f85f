/**
 * @ampora/opamp — the OpAMP wire format, framing, validation, capability
 * bits and the agent session state machine.
 *
 * Generated message types and their schemas are re-exported so consumers
 * can use `create`, `toBinary` and `fromBinary` (also re-exported) without
 * depending on the generated file layout.
 */
export { create, toBinary, fromBinary } from '@bufbuild/protobuf';
export type { MessageInitShape } from '@bufbuild/protobuf';

export * from './gen/opamp_pb';
export * from './gen/anyvalue_pb';

export { configMapHash } from './config-hash';
export { encodeFrame, decodeFrame, type FrameDecodeResult } from './frame';
export {
  AgentCapability,
  ServerCapability,
  AgentToServerFlag,
  ServerToAgentFlag,
  DEFINED_AGENT_CAPABILITIES,
  DEFINED_SERVER_CAPABILITIES,
  agentCapabilityNames,
  serverCapabilityNames,
  serverCapabilities,
  combine,
  has,
  toBits,
  type AgentCapabilityName,
  type ServerCapabilityName,
} from './capabilities';
export {
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_DEPTH,
  INSTANCE_UID_BYTES,
  decodeAgentToServer,
  errorResponse,
  badRequestFor,
  type DecodeOptions,
  type ErrorKind,
  type ValidAgentToServer,
  type ValidationFailureReason,
  type ValidationResult,
} from './validate';
export {
  uuidV7,
  createUuidV7Source,
  isUuidV7,
  uuidToString,
  uuidFromString,
  type InstanceUidSource,
  type UuidV7SourceDeps,
} from './uuid';
export { createAgentSession, DEFAULT_HEARTBEAT_INTERVAL_SECONDS } from './session';
export { gateOffer, type GateContext } from './session-offers';
export type {
  AgentProtocolState,
  AgentSession,
  CreateSessionOptions,
  FullStateReason,
  HandleResult,
  Inbound,
  Offer,
  OfferKind,
  OfferRefusal,
  OfferResult,
  SessionConfig,
  SessionDeps,
  StatusSections,
  Transport,
} from './session-types';
