/**
 * Decoding and validation of inbound AgentToServer messages, and the
 * builder for error replies.
 */
import { create, fromBinary, isUnknownEnum, type DescField, type DescMessage } from '@bufbuild/protobuf';
import {
  AgentToServerSchema,
  RetryInfoSchema,
  ServerErrorResponseSchema,
  ServerErrorResponseType,
  ServerToAgentSchema,
  type AgentToServer,
  type ServerToAgent,
} from './gen/opamp_pb';

/** Ampora's default inbound size cap (`OpAmp:MaxMessageBytes`), counted after decompression. */
export const DEFAULT_MAX_MESSAGE_BYTES = 10 * 1024 * 1024;
/** Nesting depth accepted for messages (health and component trees nest). */
export const DEFAULT_MAX_DEPTH = 100;
/** Length of an instance_uid in bytes. */
export const INSTANCE_UID_BYTES = 16;

declare const validatedBrand: unique symbol;
/**
 * An AgentToServer that passed {@link decodeAgentToServer}: the session
 * state machine accepts only these, so nothing unvalidated reaches it.
 */
export type ValidAgentToServer = AgentToServer & { readonly [validatedBrand]: true };

export type ValidationFailureReason = 'too_large' | 'malformed' | 'too_deep' | 'bad_uid' | 'bad_enum';

export type ValidationResult =
  | { ok: true; msg: ValidAgentToServer }
  | {
      ok: false;
      reason: ValidationFailureReason;
      /** Human-readable, safe to send back as `error_message` (ER-3). */
      detail: string;
      /** The uid the message carried, when it could be decoded at all (possibly of a wrong length). */
      instanceUid?: Uint8Array;
    };

export interface DecodeOptions {
  /** Reject payloads larger than this many bytes, before decoding. */
  maxBytes?: number;
  /** Reject messages nested deeper than this. */
  maxDepth?: number;
}

/**
 * Decodes and validates an AgentToServer payload (the frame payload on
 * WebSocket, the decompressed body on HTTP).
 *
 * - The size cap is checked before any decoding work.
 * - Unknown fields are skipped and not retained.
 * - instance_uid must be exactly 16 bytes.
 * - Every enum field must hold a value the spec defines; proto3 would
 *   otherwise carry unknown numbers through silently.
 * Capability and flag bit sets are not enums: unknown bits are accepted and
 * ignored.
 */
export function decodeAgentToServer(bytes: Uint8Array, options: DecodeOptions = {}): ValidationResult {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (bytes.length > maxBytes) {
    return {
      ok: false,
      reason: 'too_large',
      detail: `message is ${bytes.length} bytes; limit is ${maxBytes}`,
    };
  }
  let msg: AgentToServer;
  try {
    msg = fromBinary(AgentToServerSchema, bytes, {
      readUnknownFields: false,
      recursionLimit: options.maxDepth ?? DEFAULT_MAX_DEPTH,
    });
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    if (text.includes('recursion')) {
      return { ok: false, reason: 'too_deep', detail: 'message nests deeper than allowed' };
    }
    return { ok: false, reason: 'malformed', detail: `cannot decode AgentToServer: ${text}` };
  }
  if (msg.instanceUid.length !== INSTANCE_UID_BYTES) {
    return {
      ok: false,
      reason: 'bad_uid',
      detail: `instance_uid must be ${INSTANCE_UID_BYTES} bytes, got ${msg.instanceUid.length}`,
      instanceUid: msg.instanceUid,
    };
  }
  const badEnum = findUnknownEnum(AgentToServerSchema, msg);
  if (badEnum) {
    return { ok: false, reason: 'bad_enum', detail: badEnum, instanceUid: msg.instanceUid };
  }
  return { ok: true, msg: msg as ValidAgentToServer };
}

/** Cache: does a message type (transitively) contain an enum field? Lets the walk skip enum-free subtrees such as health or attributes. */
const enumBearing = new Map<DescMessage, boolean>();

function containsEnum(desc: DescMessage, visiting = new Set<DescMessage>()): boolean {
  const cached = enumBearing.get(desc);
  if (cached !== undefined) return cached;
  if (visiting.has(desc)) return false;
  visiting.add(desc);
  const result = desc.fields.some((f) => {
    const child = childMessage(f);
    return enumOf(f) !== undefined || (child !== undefined && containsEnum(child, visiting));
  });
  visiting.delete(desc);
  enumBearing.set(desc, result);
  return result;
}

function enumOf(f: DescField) {
  if (f.fieldKind === 'enum') return f.enum;
  if (f.fieldKind === 'list' && f.listKind === 'enum') return f.enum;
  if (f.fieldKind === 'map' && f.mapKind === 'enum') return f.enum;
  return undefined;
}

function childMessage(f: DescField): DescMessage | undefined {
  if (f.fieldKind === 'message') return f.message;
  if (f.fieldKind === 'list' && f.listKind === 'message') return f.message;
  if (f.fieldKind === 'map' && f.mapKind === 'message') return f.message;
  return undefined;
}

/** Returns a description of the first enum field holding an undefined value, or undefined. Iterative, so depth cannot overflow the stack. */
function findUnknownEnum(root: DescMessage, rootMsg: object): string | undefined {
  const stack: Array<{ desc: DescMessage; msg: Record<string, unknown>; path: string }> = [
    { desc: root, msg: rootMsg as Record<string, unknown>, path: '' },
  ];
  while (stack.length > 0) {
    const { desc, msg, path } = stack.pop()!;
    for (const field of desc.fields) {
      const value = fieldValue(field, msg);
      if (value === undefined) continue;
      const where = path ? `${path}.${field.name}` : field.name;
      const enumDesc = enumOf(field);
      if (enumDesc) {
        for (const v of valuesOf(field, value)) {
          if (isUnknownEnum(enumDesc, v as number)) {
            return `${where} has undefined ${enumDesc.name} value ${String(v)}`;
          }
        }
        continue;
      }
      const child = childMessage(field);
      if (child && containsEnum(child)) {
        for (const v of valuesOf(field, value)) {
          stack.push({ desc: child, msg: v as Record<string, unknown>, path: where });
        }
      }
    }
  }
  return undefined;
}

function fieldValue(field: DescField, msg: Record<string, unknown>): unknown {
  if (field.oneof) {
    const oneof = msg[field.oneof.localName] as { case?: string; value?: unknown } | undefined;
    return oneof?.case === field.localName ? oneof.value : undefined;
  }
  return msg[field.localName];
}

function valuesOf(field: DescField, value: unknown): unknown[] {
  if (field.fieldKind === 'list') return value as unknown[];
  if (field.fieldKind === 'map') return Object.values(value as Record<string, unknown>);
  return [value];
}

export type ErrorKind = 'bad_request' | 'unavailable' | 'unknown';

const ERROR_TYPES: Record<ErrorKind, ServerErrorResponseType> = {
  bad_request: ServerErrorResponseType.ServerErrorResponseType_BadRequest,
  unavailable: ServerErrorResponseType.ServerErrorResponseType_Unavailable,
  unknown: ServerErrorResponseType.ServerErrorResponseType_Unknown,
};

/**
 * Builds an error reply carrying only `instance_uid` and `error_response`
 * (S-10): no capabilities, flags or offers. `retryAfterMs` becomes
 * `retry_info`, which belongs to Unavailable only (ER-5); the caller picks
 * the delay (at least 30 s is recommended, TH-5).
 */
export function errorResponse(
  instanceUid: Uint8Array,
  type: ErrorKind | ServerErrorResponseType,
  message: string,
  retryAfterMs?: number,
): ServerToAgent {
  const errorType = typeof type === 'string' ? ERROR_TYPES[type] : type;
  if (retryAfterMs !== undefined) {
    if (errorType !== ServerErrorResponseType.ServerErrorResponseType_Unavailable) {
      throw new TypeError('retry information is only valid with an Unavailable error');
    }
    if (!Number.isFinite(retryAfterMs) || retryAfterMs < 0) {
      throw new RangeError('retryAfterMs must be a non-negative finite number');
    }
  }
  return create(ServerToAgentSchema, {
    instanceUid,
    errorResponse: create(ServerErrorResponseSchema, {
      type: errorType,
      errorMessage: message,
      Details:
        retryAfterMs === undefined
          ? { case: undefined }
          : {
              case: 'retryInfo',
              value: create(RetryInfoSchema, {
                retryAfterNanoseconds: BigInt(Math.round(retryAfterMs)) * 1_000_000n,
              }),
            },
    }),
  });
}

/**
 * The BAD_REQUEST reply for a failed validation (ER-1..ER-3). `fallbackUid`
 * is the uid known from the transport (an earlier message on the stream or
 * the `OpAMP-Instance-UID` header), used when the message carried none.
 */
export function badRequestFor(
  failure: Extract<ValidationResult, { ok: false }>,
  fallbackUid: Uint8Array = new Uint8Array(0),
): ServerToAgent {
  const carried = failure.instanceUid;
  // Prefer a well-formed uid so that the reply addresses the agent (S-3);
  // echo a malformed one only when nothing better is known.
  const uid =
    carried?.length === INSTANCE_UID_BYTES
      ? carried
      : fallbackUid.length > 0
        ? fallbackUid
        : (carried ?? fallbackUid);
  return errorResponse(uid, 'bad_request', failure.detail);
}
