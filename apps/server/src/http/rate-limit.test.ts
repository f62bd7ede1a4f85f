import { describe, expect, it } from 'vitest';
import { manualClock } from '@ampora/db';
import { tokenBucketStore } from './rate-limit.js';

function take(
  store: InstanceType<ReturnType<typeof tokenBucketStore>>,
  key: string,
  max: number,
  windowMs = 60_000,
) {
  let out: { current: number; ttl: number } | undefined;
  store.incr(key, (_err, r) => (out = r), windowMs, max);
  return out!;
}

describe('tokenBucketStore', () => {
  it('allows a burst up to the bucket size, then reports the wait for the next token', () => {
    const clock = manualClock(new Date('2026-01-01T00:00:00Z'));
    const store = new (tokenBucketStore(clock))();
    const results = Array.from({ length: 4 }, () => take(store, 'a', 3));
    expect(results.map((r) => r.current <= 3)).toEqual([true, true, true, false]);
    // 3 tokens per minute: one token every 20 s.
    expect(results[3]!.ttl).toBe(20_000);
  });

  it('refills continuously, so a steady client is never cut off at a window boundary', () => {
    const clock = manualClock(new Date('2026-01-01T00:00:00Z'));
    const store = new (tokenBucketStore(clock))();
    for (let i = 0; i < 3; i++) take(store, 'a', 3);
    expect(take(store, 'a', 3).current).toBeGreaterThan(3);
    clock.advance(20_000);
    expect(take(store, 'a', 3).current).toBeLessThanOrEqual(3);
    expect(take(store, 'a', 3).current).toBeGreaterThan(3);
  });

  it('keeps keys apart and forgets the oldest beyond its key cap', () => {
    const clock = manualClock(new Date('2026-01-01T00:00:00Z'));
    const store = new (tokenBucketStore(clock, 2))();
    take(store, 'a', 1);
    expect(take(store, 'a', 1).current).toBeGreaterThan(1);
    expect(take(store, 'b', 1).current).toBe(1);
    take(store, 'c', 1); // evicts a
    expect(take(store, 'a', 1).current).toBe(1);
  });
});
