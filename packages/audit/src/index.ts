// The package's API as the server uses it; helpers that only the package and its own tests need
// are imported from their files directly.
export { AUDIT_ACTOR_KINDS, AUDIT_OUTCOMES, normalizeAuditEvent, redact } from './events.js';
export type { AuditActor, AuditOutcome } from './events.js';
export { GENESIS_HASH, computeRecordHash } from './chain.js';
export type { AuditRecord } from './chain.js';
export { appendAuditEvent } from './append.js';
export { writeCheckpoint } from './checkpoint.js';
export type { AuditCheckpoint, CheckpointSigner } from './checkpoint.js';
export { createAuditReader } from './reader.js';
export { verifyChain } from './verify.js';
export type { ChainProblem } from './verify.js';
export { sweepRetention } from './retention.js';
