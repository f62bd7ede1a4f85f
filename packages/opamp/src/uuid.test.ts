import { describe, expect, it } from 'vitest';
import { createUuidV7Source, isUuidV7, uuidFromString, uuidToString, uuidV7 } from './uuid';

describe('instance uid helpers', () => {
  it('A-11, A-12: builds 16-byte UUIDv7 values with the timestamp in the first 48 bits', () => {
    const random = new Uint8Array(10).fill(0xff);
    const uid = uuidV7(0x0189_abcd_ef01, random);
    expect(uid.length).toBe(16);
    expect(isUuidV7(uid)).toBe(true);
    expect(uuidToString(uid)).toBe('0189abcd-ef01-7fff-bfff-ffffffffffff');
  });

  it('uses the injected clock and randomness', () => {
    let t = 1_700_000_000_000;
    const source = createUuidV7Source({ now: () => t++, randomBytes: (n) => new Uint8Array(n).fill(0) });
    const a = source();
    const b = source();
    expect(isUuidV7(a) && isUuidV7(b)).toBe(true);
    expect(uuidToString(a) < uuidToString(b)).toBe(true);
  });

  it('rejects non-v7 values and bad inputs', () => {
    expect(isUuidV7(uuidFromString('6ba7b810-9dad-41d1-80b4-00c04fd430c8'))).toBe(false); // v4
    expect(isUuidV7(new Uint8Array(15))).toBe(false);
    expect(() => uuidV7(1, new Uint8Array(9))).toThrow(RangeError);
    expect(() => uuidV7(-1, new Uint8Array(10))).toThrow(RangeError);
    expect(() => uuidFromString('not-a-uuid')).toThrow(RangeError);
    expect(() => uuidToString(new Uint8Array(3))).toThrow(RangeError);
  });

  it('parses text with or without dashes', () => {
    const text = '0189abcd-ef01-7fff-bfff-ffffffffffff';
    expect(uuidToString(uuidFromString(text))).toBe(text);
    expect(uuidToString(uuidFromString(text.replaceAll('-', '').toUpperCase()))).toBe(text);
  });
});
