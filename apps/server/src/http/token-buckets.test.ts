import { describe, expect, it } from 'vitest';
import { manualClock } from '@ampora/db';
import { createTokenBuckets } from './token-buckets.js';

describe('token buckets', () => {
  it('allows a burst of the bucket size per key, then refuses with the wait for the next token', () => {
    const clock = manualClock(new Date('2026-01-01T00:00:00Z'));
    const buckets = createTokenBuckets(clock, 3);
    expect([1, 2, 3].map(() => buckets.take('a').ok)).toEqual([true, true, true]);
    expect(buckets.take('a')).toEqual({ ok: false, retryAfterSeconds: 20 });
    expect(buckets.take('b').ok).toBe(true); // keys are independent
    clock.advance(20_000);
    expect(buckets.take('a').ok).toBe(true);
    expect(buckets.take('a').ok).toBe(false);
  });

  it('forgets the oldest keys beyond its size, which only ever favours the client', () => {
    const clock = manualClock(new Date('2026-01-01T00:00:00Z'));
    const buckets = createTokenBuckets(clock, 1, 2);
    expect(buckets.take('a').ok).toBe(true);
    expect(buckets.take('a').ok).toBe(false);
    buckets.take('b');
    buckets.take('c');
    expect(buckets.take('a').ok).toBe(true);
  });
});
