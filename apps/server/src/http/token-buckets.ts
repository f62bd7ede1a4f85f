import type { Clock } from '@ampora/db';

export interface TokenBuckets {
  /** Takes one token from `key`'s bucket; when it is empty, says how long until the next one. */
  take(key: string): { ok: true } | { ok: false; retryAfterSeconds: number };
}

/**
 * In-memory token buckets, one per key, each holding `perMinute` tokens and refilling at that rate.
 * Per replica; the oldest keys are forgotten beyond `maxKeys`, which only ever errs towards the client.
 */
export function createTokenBuckets(clock: Clock, perMinute: number, maxKeys = 10_000): TokenBuckets {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const perMs = perMinute / 60_000;
  return {
    take(key) {
      const now = clock.now().getTime();
      const b = buckets.get(key) ?? { tokens: perMinute, at: now };
      b.tokens = Math.min(perMinute, b.tokens + Math.max(0, now - b.at) * perMs);
      b.at = now;
      buckets.delete(key);
      buckets.set(key, b);
      if (buckets.size > maxKeys) buckets.delete(buckets.keys().next().value!);
      if (b.tokens < 1)
        return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - b.tokens) / perMs / 1000)) };
      b.tokens -= 1;
      return { ok: true };
    },
  };
}
