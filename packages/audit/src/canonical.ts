/**
 * Canonical JSON: the exact bytes that audit hashes and checkpoint signatures are computed over.
 * `verify` recomputes them years later, so this encoding must never change for a given version.
 *
 * The encoding (it coincides with RFC 8785, JCS, for the values we produce):
 * - no whitespace anywhere;
 * - object keys sorted by UTF-16 code units (JavaScript's default string order); keys whose value
 *   is `undefined` are left out, as JSON.stringify does;
 * - strings escaped as JSON.stringify escapes them;
 * - numbers finite only, written as ECMAScript writes them (shortest round-trip form, `1e+21`
 *   style exponents), with -0 written as 0;
 * - `true`, `false`, `null`; arrays in their order.
 *
 * Values are first brought to the form that Postgres jsonb gives back ({@link toJsonValue}), so a
 * row hashed before insertion hashes the same after being read back: dates become ISO-8601 UTC
 * strings with milliseconds, bigints become decimal strings, `undefined` in arrays becomes null,
 * and strings that jsonb or UTF-8 cannot hold exactly (U+0000, lone surrogates) have those code
 * units replaced by U+FFFD. Object keys with such code units are refused: replacing them could
 * make two keys collide.
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export class CanonicalJsonError extends Error {
  override readonly name = 'CanonicalJsonError';
}

const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Cheap pre-check, so the replacing regex only runs on the rare string that needs it. */
const MAYBE_UNSTORABLE = /[\u0000\uD800-\uDFFF]/;

/** A string as Postgres stores it in text and jsonb columns. */
export function storableString(value: string): string {
  return value.replace(UNSTORABLE, '\uFFFD');
}

/** Converts a value to plain JSON, exactly as it will read back from a jsonb column. */
export function toJsonValue(value: unknown, depth = 0): JsonValue {
  if (depth > 64) throw new CanonicalJsonError('value nests too deeply for an audit record');
  if (value === null) return null;
  switch (typeof value) {
    case 'boolean':
      return value;
    case 'string':
      return storableString(value);
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError('audit values must be finite numbers');
      return Object.is(value, -0) ? 0 : value;
    case 'bigint':
      return value.toString();
    case 'object': {
      if (value instanceof Date) {
        if (Number.isNaN(value.getTime())) throw new CanonicalJsonError('invalid date in an audit value');
        return value.toISOString();
      }
      if (Array.isArray(value))
        return value.map((item) => (item === undefined ? null : toJsonValue(item, depth + 1)));
      if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
        throw new CanonicalJsonError('binary values do not belong in an audit record');
      }
      const out: { [key: string]: JsonValue } = {};
      for (const [key, item] of Object.entries(value)) {
        if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
        if (MAYBE_UNSTORABLE.test(key) && storableString(key) !== key) {
          throw new CanonicalJsonError('object keys in an audit record must be storable text');
        }
        out[key] = toJsonValue(item, depth + 1);
      }
      return out;
    }
    default:
      throw new CanonicalJsonError(`a ${typeof value} cannot be written to an audit record`);
  }
}

/** A string in canonical form: JSON-escaped, after {@link storableString}. */
export function canonicalString(value: string): string {
  return JSON.stringify(MAYBE_UNSTORABLE.test(value) ? storableString(value) : value);
}

/**
 * One pass that normalises (as {@link toJsonValue}) and writes. `verify` runs this for every event
 * of a chain, so it builds no intermediate copy.
 */
function write(value: unknown, depth: number): string {
  if (depth > 64) throw new CanonicalJsonError('value nests too deeply for an audit record');
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return canonicalString(value);
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError('audit values must be finite numbers');
      return Object.is(value, -0) ? '0' : String(value);
    case 'bigint':
      return `"${value.toString()}"`;
    case 'object':
      break;
    default:
      throw new CanonicalJsonError(`a ${typeof value} cannot be written to an audit record`);
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new CanonicalJsonError('invalid date in an audit value');
    return `"${value.toISOString()}"`;
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      const item: unknown = value[i];
      out += item === undefined ? 'null' : write(item, depth + 1);
    }
    return out + ']';
  }
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    throw new CanonicalJsonError('binary values do not belong in an audit record');
  }
  const record = value as Record<string, unknown>;
  let keys = Object.keys(record);
  if (keys.some((key) => MAYBE_UNSTORABLE.test(key) && storableString(key) !== key)) {
    throw new CanonicalJsonError('object keys in an audit record must be storable text');
  }
  keys = keys.sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const item = record[key];
    if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
    out += (first ? '' : ',') + JSON.stringify(key) + ':' + write(item, depth + 1);
    first = false;
  }
  return out + '}';
}

/** The canonical text of a value (see the module comment). */
export function canonicalJson(value: unknown): string {
  return write(value, 0);
}
