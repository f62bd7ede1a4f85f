import { createHmac } from 'node:crypto';
import { toJsonValue } from './canonical.js';
import type { JsonValue } from './canonical.js';

export type AuditActorKind = 'user' | 'pat' | 'agent' | 'peer' | 'system';
export type AuditOutcome = 'success' | 'denied' | 'failure';

export const AUDIT_ACTOR_KINDS: readonly AuditActorKind[] = ['user', 'pat', 'agent', 'peer', 'system'];
export const AUDIT_OUTCOMES: readonly AuditOutcome[] = ['success', 'denied', 'failure'];

export interface AuditActor {
  readonly kind: AuditActorKind;
  /** User subject, PAT id, agent certificate fingerprint, peer id, or job name. */
  readonly id: string;
  /** Human-readable: user name, PAT name, agent name, peer name, job name. */
  readonly name: string;
}

export interface AuditEntity {
  readonly type: string;
  /** Absent for events about no single entity (a failed login for an unknown user, a bulk action). */
  readonly id: string | null;
}

/**
 * Version 1 of the audit event. A future version adds a new member to {@link AuditEvent} with its
 * own `v`, and stored rows keep the version they were hashed under.
 */
export interface AuditEventV1 {
  readonly v: 1;
  readonly tenantId: string;
  readonly actor: AuditActor;
  /** Dotted, lowercase: `pki.certificate.revoke`, `auth.login.failed`, `rollout.pause`. */
  readonly action: string;
  readonly entity: AuditEntity;
  readonly before: JsonValue | null;
  readonly after: JsonValue | null;
  readonly outcome: AuditOutcome;
  readonly sourceIp: string | null;
  readonly userAgent: string | null;
  readonly requestId: string | null;
  /** UTC, millisecond precision. */
  readonly time: Date;
}

export type AuditEvent = AuditEventV1;

/** What a caller supplies: the version is implied, time comes from the clock when left out. */
export interface NewAuditEvent {
  readonly tenantId: string;
  readonly actor: AuditActor;
  readonly action: string;
  readonly entity: AuditEntity;
  readonly before?: unknown;
  readonly after?: unknown;
  readonly outcome: AuditOutcome;
  readonly sourceIp?: string | null;
  readonly userAgent?: string | null;
  readonly requestId?: string | null;
  readonly time?: Date;
}

export class AuditEventError extends Error {
  override readonly name = 'AuditEventError';
}

const ACTION = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/;
const LIMITS = { text: 1024, userAgent: 512 };

function text(value: string, field: string, max = LIMITS.text): string {
  if (typeof value !== 'string' || value.length === 0)
    throw new AuditEventError(`audit ${field} is required`);
  if (value.length > max) throw new AuditEventError(`audit ${field} is longer than ${max} characters`);
  return value;
}

function optionalText(value: string | null | undefined, field: string, max = LIMITS.text): string | null {
  if (value === undefined || value === null || value === '') return null;
  // Request-supplied values (user agent) are cut, not refused: a long header must not fail a change.
  if (typeof value !== 'string') throw new AuditEventError(`audit ${field} must be a string`);
  return value.length > max ? value.slice(0, max) : value;
}

/** Checks a new event and brings it to the stored form (version 1, JSON values, explicit nulls). */
export function normalizeAuditEvent(input: NewAuditEvent, now: Date): AuditEventV1 {
  if (!AUDIT_ACTOR_KINDS.includes(input.actor?.kind))
    throw new AuditEventError('audit actor kind is unknown');
  if (!AUDIT_OUTCOMES.includes(input.outcome)) throw new AuditEventError('audit outcome is unknown');
  if (typeof input.action !== 'string' || !ACTION.test(input.action) || input.action.length > 128) {
    throw new AuditEventError('audit action must look like "domain.entity.verb"');
  }
  const time = input.time ?? now;
  if (!(time instanceof Date) || Number.isNaN(time.getTime()))
    throw new AuditEventError('audit time is invalid');
  return {
    v: 1,
    tenantId: text(input.tenantId, 'tenant'),
    actor: {
      kind: input.actor.kind,
      id: text(input.actor.id, 'actor id'),
      name: text(input.actor.name, 'actor name'),
    },
    action: input.action,
    entity: {
      type: text(input.entity?.type, 'entity type', 128),
      id: optionalText(input.entity?.id, 'entity id'),
    },
    before: input.before === undefined ? null : toJsonValue(input.before),
    after: input.after === undefined ? null : toJsonValue(input.after),
    outcome: input.outcome,
    sourceIp: optionalText(input.sourceIp, 'source ip', 64),
    userAgent: optionalText(input.userAgent, 'user agent', LIMITS.userAgent),
    requestId: optionalText(input.requestId, 'request id', 128),
    time: new Date(time.getTime()),
  };
}

/** HMAC-SHA256 under a key held by the key protector, hex-encoded. */
export type SecretHmac = (data: string) => string;

/**
 * Replaces every value stored under a secret key name, at any depth, by `hmac:<hex>`. The HMAC
 * lets an investigator check whether two events carried the same secret (or whether a secret they
 * hold is the one recorded) without the audit trail ever holding the secret itself.
 * Key names compare case-insensitively. Non-string secrets are HMACed over their JSON text.
 */
export function redact(value: unknown, secretKeys: Iterable<string>, hmac: SecretHmac): JsonValue {
  const secret = new Set([...secretKeys].map((k) => k.toLowerCase()));
  const walk = (node: JsonValue): JsonValue => {
    if (Array.isArray(node)) return node.map(walk);
    if (node === null || typeof node !== 'object') return node;
    const out: { [key: string]: JsonValue } = {};
    for (const [key, item] of Object.entries(node)) {
      if (secret.has(key.toLowerCase()) && item !== null) {
        out[key] = `hmac:${hmac(typeof item === 'string' ? item : JSON.stringify(item))}`;
      } else {
        out[key] = walk(item);
      }
    }
    return out;
  };
  return walk(toJsonValue(value));
}

/** A {@link SecretHmac} over a raw key, for callers that hold the key bytes (the software provider, tests). */
export function hmacSha256(key: Uint8Array): SecretHmac {
  const material = Buffer.from(key);
  return (data) => createHmac('sha256', material).update(data, 'utf8').digest('hex');
}
