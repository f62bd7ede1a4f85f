import { describe, expect, it } from 'vitest';
import { parseRetryAfter, transportForUrl } from './transport';

describe('transport helpers', () => {
  it('infers the transport from the URL scheme', () => {
    expect(transportForUrl('ws://h/v1/opamp')).toBe('websocket');
    expect(transportForUrl('wss://h/v1/opamp')).toBe('websocket');
    expect(transportForUrl('http://h/v1/opamp')).toBe('http');
    expect(transportForUrl('https://h/v1/opamp')).toBe('http');
    expect(() => transportForUrl('ftp://h')).toThrow(/unsupported/);
  });

  it('parses Retry-After in seconds or as a date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('30')).toBe(30_000);
    expect(parseRetryAfter(['5'])).toBe(5_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('garbage')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});
