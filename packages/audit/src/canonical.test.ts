import { describe, expect, it } from 'vitest';
import { CanonicalJsonError, canonicalJson, toJsonValue } from './canonical.js';

describe('canonicalJson', () => {
  it('sorts keys at every depth and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' } })).toBe(
      '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });

  it('gives the same text for objects built in different key orders', () => {
    const one = { id: 'x', before: { a: 1, b: [1, 2] }, after: null };
    const two = { after: null, before: { b: [1, 2], a: 1 }, id: 'x' };
    expect(canonicalJson(one)).toBe(canonicalJson(two));
  });

  it('sorts keys by UTF-16 code units, as RFC 8785 does', () => {
    expect(canonicalJson({ b: 1, B: 2, '\u00e9': 3, a: 4, '\ud83d\ude00': 5, '\uff61': 6 })).toBe(
      '{"B":2,"a":4,"b":1,"é":3,"😀":5,"｡":6}',
    );
  });

  it('writes numbers in their shortest round-trip form and -0 as 0', () => {
    expect(canonicalJson([1, 1.5, -0, 0.1 + 0.2, 1e21, 1e-7, 123456789012345680000])).toBe(
      '[1,1.5,0,0.30000000000000004,1e+21,1e-7,123456789012345680000]',
    );
  });

  it('encodes dates as ISO-8601 UTC with milliseconds and bigints as strings', () => {
    expect(
      canonicalJson({ at: new Date(Date.UTC(2024, 1, 29, 23, 59, 59, 7)), n: 12345678901234567890n }),
    ).toBe('{"at":"2024-02-29T23:59:59.007Z","n":"12345678901234567890"}');
  });

  it('drops undefined object members and writes undefined array items as null', () => {
    expect(canonicalJson({ a: undefined, b: [undefined, 1] })).toBe('{"b":[null,1]}');
  });

  it('escapes strings like JSON and replaces code units Postgres cannot store', () => {
    expect(canonicalJson('a"b\\c\n')).toBe('"a\\"b\\\\c\\n"');
    expect(canonicalJson('x\u0000y')).toBe('"x\ufffdy"');
    expect(canonicalJson('lone \ud800 high, lone \udc00 low, pair \ud83d\ude00')).toBe(
      '"lone \ufffd high, lone \ufffd low, pair 😀"',
    );
  });

  it('refuses values that have no stable JSON form', () => {
    expect(() => canonicalJson(Number.NaN)).toThrow(CanonicalJsonError);
    expect(() => canonicalJson({ x: Infinity })).toThrow(CanonicalJsonError);
    expect(() => canonicalJson(new Date('nope'))).toThrow(CanonicalJsonError);
    expect(() => canonicalJson(Buffer.from('secret'))).toThrow(CanonicalJsonError);
    expect(() => canonicalJson(Symbol('s'))).toThrow(CanonicalJsonError);
    let deep: unknown = 1;
    for (let i = 0; i < 100; i++) deep = [deep];
    expect(() => canonicalJson(deep)).toThrow(CanonicalJsonError);
  });

  it('is stable across a JSON round trip of the normalised value (what jsonb gives back)', () => {
    const value = { when: new Date(0), list: [1.25, 'é', null, true], nested: { z: -0, a: 2n } };
    const normalised = toJsonValue(value);
    expect(canonicalJson(JSON.parse(JSON.stringify(normalised)))).toBe(canonicalJson(value));
  });
});
