import { withTenant, type Clock, type Database } from '@ampora/db';
import type { Logger } from '../../observability/logger.js';
import { systemAuditContext, type AuditRecorder } from '../audit/audit-recorder.js';
import type { EnrollmentMetrics } from './enrollment-metrics.js';
import { tenantIds } from '../../runtime/scheduled-jobs.js';
import { sweepExpiredTokens, sweepRedemptions } from './enrollment-queries.js';

export const SWEEP_ACTION = 'enrollment.records.sweep';
export const SWEEP_JOB = 'enrollment-sweep';

const DAY_MS = 86_400_000;

export interface SweepSettings {
  /** Days a token stays after it expired, still refused as `token_expired` rather than unknown. */
  expiredTokenGraceDays: number;
  /** Days a redemption record stays, so that a reuse is refused as `token_already_used`. */
  redemptionRetentionDays: number;
  /** Most rows of each kind deleted per tenant per round. */
  batchSize: number;
}

export interface EnrollmentJobsDeps {
  db: Database;
  clock: Clock;
  logger: Logger;
  audit: Pick<AuditRecorder, 'record'>;
  metrics: EnrollmentMetrics;
  sweep: SweepSettings;
}

export interface SweepRound {
  tenants: number;
  expiredTokens: number;
  redemptions: number;
  /** Tenants whose batch was full: they have more to delete in the next round. */
  backlogged: number;
  failed: number;
}

/** One round of the enrollment sweep over every tenant. A failing tenant is logged and does not stop the others. */
export function createEnrollmentJobs(deps: EnrollmentJobsDeps) {
  const { sweep } = deps;

  async function sweepTenant(tenantId: string, now: Date) {
    const tokenCutoff = new Date(now.getTime() - sweep.expiredTokenGraceDays * DAY_MS);
    const redemptionCutoff = new Date(now.getTime() - sweep.redemptionRetentionDays * DAY_MS);
    return withTenant(deps.db, tenantId, async (tx) => {
      const expiredTokens = await sweepExpiredTokens(tx, {
        tenantId,
        cutoff: tokenCutoff,
        limit: sweep.batchSize,
      });
      const redemptions = await sweepRedemptions(tx, {
        tenantId,
        cutoff: redemptionCutoff,
        limit: sweep.batchSize,
      });
      // An empty sweep is not worth an event: it would only grow the chain every round.
      if (expiredTokens > 0 || redemptions > 0) {
        await deps.audit.record(tx, systemAuditContext(tenantId, SWEEP_JOB), {
          action: SWEEP_ACTION,
          entity: { type: 'enrollment_records', id: null },
          after: {
            expiredTokens,
            redemptions,
            expiredTokenGraceDays: sweep.expiredTokenGraceDays,
            redemptionRetentionDays: sweep.redemptionRetentionDays,
          },
        });
      }
      return { expiredTokens, redemptions };
    });
  }

  return {
    /**
     * Deletes, in each tenant, at most one batch of tokens expired for longer than the grace period
     * and one batch of redemption records older than the retention window, in one transaction
     * with the event that counts them. A backlog larger than a batch drains over later rounds.
     */
    async sweepRound(): Promise<SweepRound> {
      const tenants = await tenantIds(deps.db);
      const now = deps.clock.now();
      const round: SweepRound = {
        tenants: tenants.length,
        expiredTokens: 0,
        redemptions: 0,
        backlogged: 0,
        failed: 0,
      };
      for (const tenantId of tenants) {
        try {
          const r = await sweepTenant(tenantId, now);
          deps.metrics.swept.inc({ kind: 'expired_token' }, r.expiredTokens);
          deps.metrics.swept.inc({ kind: 'redemption' }, r.redemptions);
          round.expiredTokens += r.expiredTokens;
          round.redemptions += r.redemptions;
          if (r.expiredTokens >= sweep.batchSize || r.redemptions >= sweep.batchSize) round.backlogged++;
        } catch (err) {
          round.failed++;
          deps.logger.error({ err: (err as Error).message, tenantId }, 'enrollment sweep failed');
        }
      }
      return round;
    },
  };
}

export type EnrollmentJobs = ReturnType<typeof createEnrollmentJobs>;
