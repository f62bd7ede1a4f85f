import type { ServerContext, ServerModule } from '../../runtime/context.js';
import { scheduleRounds, withJobLock, type Schedule } from '../../runtime/scheduled-jobs.js';
import { createEnrollmentJobs, SWEEP_JOB } from './enrollment-jobs.js';
import { createEnrollmentMetrics } from './enrollment-metrics.js';
import { enrollmentRoutes } from './enrollment-routes.js';
import { createEnrollmentService, type EnrollmentService } from './enrollment-service.js';
import { createTokenPoolsService } from './token-pools-service.js';

/** A freshly started server sweeps soon, so replicas restarted often still sweep. */
const FIRST_ROUND_DELAY_MS = 60_000;

/** Bootstrap tokens and token pools (REST). Redemption happens at the OpAMP endpoint (identities). */
export function enrollmentModule(ctx: ServerContext): ServerModule & { service: EnrollmentService } {
  const settings = ctx.config.enrollment;
  const logger = ctx.logger.child({ component: 'enrollment' });
  const shared = {
    db: ctx.db,
    clock: ctx.clock,
    ids: ctx.ids,
    audit: ctx.audit,
    defaultTokenTtlSeconds: settings.tokenTtlSeconds,
  };
  const tokens = createEnrollmentService(shared);
  const pools = createTokenPoolsService({
    ...shared,
    logger,
    poolTokensPerMinute: settings.poolTokensPerMinute,
  });
  const jobs = createEnrollmentJobs({
    db: ctx.db,
    clock: ctx.clock,
    logger,
    audit: ctx.audit,
    metrics: createEnrollmentMetrics(ctx.metrics),
    sweep: {
      expiredTokenGraceDays: settings.expiredTokenGraceDays,
      redemptionRetentionDays: settings.redemptionRetentionDays,
      batchSize: settings.sweepBatchSize,
    },
  });
  const intervalMs = settings.sweepIntervalMinutes * 60_000;
  let schedule: Schedule | undefined;

  return {
    name: 'enrollment',
    routes: enrollmentRoutes({ tokens, pools }),
    // What identities needs at the OpAMP endpoint: token lookup at admission and redemption.
    service: tokens,
    start() {
      schedule = scheduleRounds(
        SWEEP_JOB,
        intervalMs,
        Math.min(FIRST_ROUND_DELAY_MS, intervalMs),
        () => withJobLock(ctx.db, SWEEP_JOB, jobs.sweepRound),
        logger,
      );
    },
    async stop() {
      await schedule?.stop();
      schedule = undefined;
    },
  };
}
