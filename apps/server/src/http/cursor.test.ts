import { describe, expect, it } from 'vitest';
import {
  cursorText,
  decodeIdCursor,
  decodeTimeIdCursor,
  encodeCursor,
  encodeIdCursor,
  encodeTimeIdCursor,
  invalidCursor,
} from './cursor.js';
import { HttpProblem } from './problem.js';

const ID = '0190f0f0-0000-7000-8000-000000000000';

describe('opaque cursors', () => {
  it('wrap text as URL-safe base64 and unwrap it unchanged', () => {
    const cursor = encodeCursor('seq:42/ü?');
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(cursor).not.toContain('seq');
    expect(cursorText(cursor)).toBe('seq:42/ü?');
  });

  it('round-trip a uuid id cursor', () => {
    expect(decodeIdCursor(encodeIdCursor(ID))).toBe(ID);
  });

  it.each([
    ['garbage', '!!'],
    ['another shape', encodeCursor('seq:42')],
    ['a truncated id', encodeCursor(ID.slice(0, 35))],
    ['an id with a trailing byte', encodeCursor(`${ID}x`)],
    ['upper-case hex', encodeCursor(ID.toUpperCase().replace('F0F0', 'FFFF'))],
  ])('refuse %s as a 400 problem', (_name, cursor) => {
    let thrown: unknown;
    try {
      decodeIdCursor(cursor);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(HttpProblem);
    expect(thrown).toMatchObject({ status: 400, detail: 'cursor is not valid' });
  });

  it('describe an invalid cursor the same way everywhere', () => {
    expect(invalidCursor()).toMatchObject({
      status: 400,
      type: 'bad-request',
      detail: 'cursor is not valid',
    });
  });

  it('round-trip a time and id cursor', () => {
    const at = new Date('2026-01-02T03:04:05.678Z');
    expect(decodeTimeIdCursor(encodeTimeIdCursor(at, ID))).toEqual({ at, id: ID });
  });

  it.each([
    ['garbage', '!!'],
    ['an id cursor', encodeIdCursor(ID)],
    ['a bad time', encodeCursor(`yesterday|${ID}`)],
    ['a bad id', encodeCursor('2026-01-02T03:04:05.678Z|not-a-uuid')],
    ['an extra part', encodeCursor(`2026-01-02T03:04:05.678Z|${ID}|x`)],
  ])('refuse %s as a time and id cursor', (_name, cursor) => {
    let thrown: unknown;
    try {
      decodeTimeIdCursor(cursor);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(HttpProblem);
    expect(thrown).toMatchObject({ status: 400, detail: 'cursor is not valid' });
  });
});
