import type { FastifyInstance, FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import type { Clock } from '@ampora/db';
import { problems } from './problem.js';

interface Bucket {
  tokens: number;
  updatedMs: number;
}

type IncrCallback = (err: Error | null, result: { current: number; ttl: number }) => void;

/**
 * A token bucket per key, as a store for `@fastify/rate-limit`: each key holds up to `max` tokens and
 * regains `max` per `timeWindow`, so a steady client is never cut off at a window boundary and a
 * burst is bounded by the bucket size. `current` is reported as `max - tokens left` (over `max`
 * when empty) and `ttl` as the wait for the next token, which becomes `Retry-After`.
 *
 * Buckets live in memory, per replica, in insertion order; the oldest are dropped beyond `maxKeys`,
 * and a dropped bucket comes back full, which only ever errs on the side of the client.
 */
export function tokenBucketStore(clock: Clock, maxKeys = 50_000) {
  return class TokenBucketStore {
    private readonly buckets = new Map<string, Bucket>();

    // The plugin always passes the window and the limit; the defaults only satisfy its typings.
    incr(key: string, cb: IncrCallback, timeWindow = 60_000, max = 1) {
      const now = clock.now().getTime();
      const perMs = max / Math.max(1, timeWindow);
      const bucket = this.buckets.get(key) ?? { tokens: max, updatedMs: now };
      bucket.tokens = Math.min(max, bucket.tokens + Math.max(0, now - bucket.updatedMs) * perMs);
      bucket.updatedMs = now;
      let current: number;
      let ttl: number;
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        current = max - Math.floor(bucket.tokens);
        ttl = bucket.tokens >= 1 ? 0 : Math.ceil((1 - bucket.tokens) / perMs);
      } else {
        current = max + 1;
        ttl = Math.max(1, Math.ceil((1 - bucket.tokens) / perMs));
      }
      this.buckets.delete(key);
      this.buckets.set(key, bucket);
      if (this.buckets.size > maxKeys) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
      cb(null, { current, ttl });
    }

    child() {
      return new TokenBucketStore();
    }
  };
}

export interface RateLimitOptions {
  clock: Clock;
  /** Requests per minute per principal (0: off). */
  principalPerMinute: number;
  /** Requests per minute per client address (0: off). */
  ipPerMinute: number;
  /** Routes that are never limited (probes, metrics), by their route URL. */
  exempt: ReadonlySet<string>;
}

type Limiter = ReturnType<FastifyInstance['createRateLimit']>;

async function check(limiter: Limiter | undefined, request: FastifyRequest) {
  if (!limiter) return;
  const result = await limiter(request);
  if (!result.isAllowed && result.isExceeded)
    throw problems.tooManyRequests(Math.max(1, result.ttlInSeconds));
}

/**
 * Two token buckets: one per client address, taken before authentication so that a flood of bad
 * credentials is cut off before it costs a database lookup, and one per principal, taken once the
 * caller is known. `request.ip` honours X-Forwarded-For only from the configured trusted proxies.
 *
 * Returns the principal check, to be called by the access hook right after authentication.
 */
export async function installRateLimits(app: FastifyInstance, options: RateLimitOptions) {
  await app.register(rateLimit, { global: false, store: tokenBucketStore(options.clock) });
  const minute = 60_000;
  const byIp =
    options.ipPerMinute > 0
      ? app.createRateLimit({
          max: options.ipPerMinute,
          timeWindow: minute,
          keyGenerator: (r) => `ip:${r.ip}`,
        })
      : undefined;
  const byPrincipal =
    options.principalPerMinute > 0
      ? app.createRateLimit({
          max: options.principalPerMinute,
          timeWindow: minute,
          keyGenerator: (r) => `p:${r.principal!.tenantId}:${r.principal!.kind}:${r.principal!.id}`,
        })
      : undefined;

  const exempt = (request: FastifyRequest) => options.exempt.has(request.routeOptions.url ?? '');
  app.addHook('onRequest', async (request) => {
    if (!exempt(request)) await check(byIp, request);
  });
  return async (request: FastifyRequest) => {
    if (request.principal && !exempt(request)) await check(byPrincipal, request);
  };
}
