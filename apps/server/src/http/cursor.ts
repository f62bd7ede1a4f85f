import { isUuid } from '@ampora/db';
import { problems } from './problem.js';

/**
 * Opaque page cursors. Clients must treat them as tokens, so the text inside is base64url-wrapped
 * and may change shape between releases; a cursor that does not decode to the expected shape is a
 * 400, never a database error.
 */

export function encodeCursor(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

/** The text inside a cursor; callers validate its shape and throw {@link invalidCursor} if it is off. */
export function cursorText(cursor: string): string {
  return Buffer.from(cursor, 'base64url').toString('utf8');
}

export function invalidCursor() {
  return problems.badRequest('cursor is not valid');
}

const ID_SHAPE = /^[0-9a-f-]{36}$/;

/** A keyset cursor over a uuid primary key: the last id of the previous page. */
export function encodeIdCursor(id: string): string {
  return encodeCursor(id);
}

export function decodeIdCursor(cursor: string): string {
  const id = cursorText(cursor);
  if (!ID_SHAPE.test(id)) throw invalidCursor();
  return id;
}

/** A keyset cursor over (time, uuid), for newest-first lists: the last row of the previous page. */
export function encodeTimeIdCursor(at: Date, id: string): string {
  return encodeCursor(`${at.toISOString()}|${id}`);
}

export function decodeTimeIdCursor(cursor: string): { at: Date; id: string } {
  const [time, id, extra] = cursorText(cursor).split('|');
  const at = new Date(time ?? '');
  if (extra !== undefined || !id || !isUuid(id) || Number.isNaN(at.getTime())) throw invalidCursor();
  return { at, id };
}
