import { sql } from 'kysely';
import type { Tx } from '@ampora/db';

export interface RetentionOptions {
  readonly tenantId: string;
  /** Days an event stays in the hot table. Default 90. */
  readonly hotDays?: number;
  /** Days an event is kept at all (hot and archive together). Default 2555, about seven years. */
  readonly archiveDays?: number;
  readonly now: Date;
}

export interface RetentionResult {
  readonly archived: number;
  readonly purged: number;
}

const DAY_MS = 86_400_000;

export class RetentionError extends Error {
  override readonly name = 'RetentionError';
}

/**
 * Moves a tenant's events older than `hotDays` to the archive and purges archived events older
 * than `archiveDays`, through the `audit_retention_sweep` database function (the app role holds
 * no DELETE on audit tables). Run it in the tenant's context, on the leader.
 *
 * Purging stops at the newest signed checkpoint older than every kept event, so the first kept
 * event always links to a checkpoint and `verifyChain` can still prove the rest of the chain.
 * Without checkpoints nothing is purged. The database refuses cut-offs in the future and any purge
 * of events younger than 365 days.
 */
export async function sweepRetention(tx: Tx, options: RetentionOptions): Promise<RetentionResult> {
  const hotDays = options.hotDays ?? 90;
  const archiveDays = options.archiveDays ?? 2555;
  if (!Number.isInteger(hotDays) || hotDays < 1)
    throw new RetentionError('hotDays must be a whole number of days, at least 1');
  if (!Number.isInteger(archiveDays) || archiveDays < hotDays) {
    throw new RetentionError('archiveDays must be a whole number of days, at least hotDays');
  }
  const archiveBefore = new Date(options.now.getTime() - hotDays * DAY_MS);
  const purgeBefore = new Date(options.now.getTime() - archiveDays * DAY_MS);
  const { rows } = await sql<{ archived: number | string; purged: number | string }>`
    select archived, purged from audit_retention_sweep(${options.tenantId}::uuid, ${archiveBefore}, ${purgeBefore})`.execute(
    tx,
  );
  const row = rows[0];
  return { archived: Number(row?.archived ?? 0), purged: Number(row?.purged ?? 0) };
}
