export { CanonicalJsonError, canonicalJson, storableString, toJsonValue } from './canonical.js';
export type { JsonValue } from './canonical.js';
export {
  AUDIT_ACTOR_KINDS,
  AUDIT_OUTCOMES,
  AuditEventError,
  hmacSha256,
  normalizeAuditEvent,
  redact,
} from './events.js';
export type {
  AuditActor,
  AuditActorKind,
  AuditEntity,
  AuditEvent,
  AuditEventV1,
  AuditOutcome,
  NewAuditEvent,
  SecretHmac,
} from './events.js';
export { GENESIS_HASH, chainedContent, computeRecordHash } from './chain.js';
export type { AuditRecord } from './chain.js';
export { appendAuditEvent } from './append.js';
export type { AppendDeps } from './append.js';
export { checkpointPayload, prepareCheckpoint, recordCheckpoint, writeCheckpoint } from './checkpoint.js';
export type { AuditCheckpoint, CheckpointBody, CheckpointSigner } from './checkpoint.js';
export { createAuditReader } from './reader.js';
export type { AuditChainReader } from './reader.js';
export { verifyChain } from './verify.js';
export type { ChainProblem, VerifyOptions, VerifyResult } from './verify.js';
export { RetentionError, sweepRetention } from './retention.js';
export type { RetentionOptions, RetentionResult } from './retention.js';
