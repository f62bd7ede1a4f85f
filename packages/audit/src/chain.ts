import { createHash } from 'node:crypto';
import { CanonicalJsonError, canonicalJson, canonicalString } from './canonical.js';
import type { AuditEventV1 } from './events.js';

/** prev_hash of the first event of every tenant's chain. */
export const GENESIS_HASH = '0'.repeat(64);

/** An audit event as stored: the event plus its place in the tenant's chain. */
export interface AuditRecord extends AuditEventV1 {
  readonly id: string;
  readonly seq: number;
  readonly prevHash: string;
  readonly hash: string;
}

/**
 * The object whose canonical JSON is hashed: every stored column except `hash`, with fixed key
 * names and explicit nulls. Changing this shape means a new event version.
 */
export function chainedContent(record: Omit<AuditRecord, 'hash'>): unknown {
  return {
    v: record.v,
    id: record.id,
    tenantId: record.tenantId,
    seq: record.seq,
    prevHash: record.prevHash,
    time: record.time.toISOString(),
    actor: { kind: record.actor.kind, id: record.actor.id, name: record.actor.name },
    action: record.action,
    entity: { type: record.entity.type, id: record.entity.id },
    before: record.before,
    after: record.after,
    outcome: record.outcome,
    sourceIp: record.sourceIp,
    userAgent: record.userAgent,
    requestId: record.requestId,
  };
}

const orNull = (value: string | null) => (value === null ? 'null' : canonicalString(value));

/**
 * `canonicalJson(chainedContent(record))`, written out with the keys already in canonical order.
 * Verification runs it once per stored event, so it skips the generic walk's key sorting for the
 * fixed part of the row; `before` and `after` still go through the generic encoder.
 */
export function canonicalRecordText(record: Omit<AuditRecord, 'hash'>): string {
  if (!Number.isSafeInteger(record.seq)) throw new CanonicalJsonError('audit seq must be a safe integer');
  return (
    '{"action":' +
    canonicalString(record.action) +
    ',"actor":{"id":' +
    canonicalString(record.actor.id) +
    ',"kind":' +
    canonicalString(record.actor.kind) +
    ',"name":' +
    canonicalString(record.actor.name) +
    '},"after":' +
    canonicalJson(record.after) +
    ',"before":' +
    canonicalJson(record.before) +
    ',"entity":{"id":' +
    orNull(record.entity.id) +
    ',"type":' +
    canonicalString(record.entity.type) +
    '},"id":' +
    canonicalString(record.id) +
    ',"outcome":' +
    canonicalString(record.outcome) +
    ',"prevHash":' +
    canonicalString(record.prevHash) +
    ',"requestId":' +
    orNull(record.requestId) +
    ',"seq":' +
    String(record.seq) +
    ',"sourceIp":' +
    orNull(record.sourceIp) +
    ',"tenantId":' +
    canonicalString(record.tenantId) +
    ',"time":"' +
    record.time.toISOString() +
    '","userAgent":' +
    orNull(record.userAgent) +
    ',"v":' +
    String(record.v) +
    '}'
  );
}

/**
 * hash = SHA-256(prev_hash ‖ canonical JSON of the row without its hash), where prev_hash enters
 * as its 32 raw bytes and the JSON as UTF-8. Hex-encoded.
 */
export function computeRecordHash(record: Omit<AuditRecord, 'hash'>): string {
  return createHash('sha256')
    .update(Buffer.from(record.prevHash, 'hex'))
    .update(canonicalRecordText(record), 'utf8')
    .digest('hex');
}
