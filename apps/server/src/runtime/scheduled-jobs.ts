import { sql } from 'kysely';
import type { Database } from '@ampora/db';
import type { Logger } from '../observability/logger.js';

/**
 * Runs `fn` only if no other replica is running the same job, through a session advisory lock
 * held on one reserved connection (released when the round ends, or when that connection dies).
 * Returns undefined when another replica holds it. Leader leases with fencing tokens replace this
 * once the HA backplane exists; until then the lock is what keeps rounds from overlapping.
 */
export async function withJobLock<T>(
  db: Database,
  job: string,
  fn: () => Promise<T>,
): Promise<T | undefined> {
  return db.connection().execute(async (conn) => {
    const key = `ampora:job:${job}`;
    const { rows } = await sql<{ locked: boolean }>`
      select pg_try_advisory_lock(hashtextextended(${key}, 0)) as locked`.execute(conn);
    if (!rows[0]?.locked) return undefined;
    try {
      return await fn();
    } finally {
      await sql`select pg_advisory_unlock(hashtextextended(${key}, 0))`.execute(conn);
    }
  });
}

/** Every tenant, for jobs that visit each one in turn (under that tenant's RLS context). */
export async function tenantIds(db: Database): Promise<string[]> {
  const rows = await db.selectFrom('tenants').select('id').orderBy('id').execute();
  return rows.map((r) => r.id);
}

export interface Schedule {
  stop(): Promise<void>;
}

/**
 * Runs `round` every `intervalMs` (the first time after `firstDelayMs`), never two at once.
 * Timers are unref'd so they never keep the process alive; `stop` waits for a running round.
 */
export function scheduleRounds(
  name: string,
  intervalMs: number,
  firstDelayMs: number,
  round: () => Promise<unknown>,
  logger: Logger,
): Schedule {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const plan = (delay: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = round()
        .then(
          (result) => logger.debug({ job: name, result }, 'scheduled job round finished'),
          (err: Error) => logger.error({ job: name, err: err.message }, 'scheduled job round failed'),
        )
        .finally(() => {
          running = undefined;
          plan(intervalMs);
        });
    }, delay);
    timer.unref();
  };
  plan(firstDelayMs);
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
