import type { ServerContext, ServerModule } from '../../runtime/context.js';
import { scheduleRounds, withJobLock, type Schedule } from '../../runtime/scheduled-jobs.js';
import { createAuditJobs } from './audit-jobs.js';
import { createAuditMetrics } from './audit-metrics.js';
import { auditRoutes } from './audit-routes.js';
import { createAuditService } from './audit-service.js';
import { resolveAuditSettings } from './audit-settings.js';
import { createAuditSigningKeys } from './audit-signing-keys.js';

/** A freshly started server does its first rounds soon, so replicas restarted often still checkpoint. */
const FIRST_ROUND_DELAY_MS = 60_000;

export function auditModule(ctx: ServerContext): ServerModule {
  const settings = resolveAuditSettings(ctx.config.audit);
  const signingKeys = createAuditSigningKeys({ db: ctx.db, keys: ctx.keys, clock: ctx.clock });
  const logger = ctx.logger.child({ component: 'audit' });
  const jobs = createAuditJobs({
    db: ctx.db,
    clock: ctx.clock,
    logger,
    audit: ctx.audit,
    signingKeys,
    metrics: createAuditMetrics(ctx.metrics),
    retention: { hotDays: settings.hotDays, archiveDays: settings.archiveDays },
  });
  const schedules: Schedule[] = [];

  return {
    name: 'audit',
    routes: auditRoutes(createAuditService({ db: ctx.db, audit: ctx.audit, signingKeys })),
    async start() {
      const keyId = await signingKeys.ensureActiveKey();
      logger.info({ keyId, ...settings }, 'audit checkpoint signing key ready');
      schedules.push(
        scheduleRounds(
          'audit-checkpoint',
          settings.checkpointIntervalMs,
          Math.min(FIRST_ROUND_DELAY_MS, settings.checkpointIntervalMs),
          () => withJobLock(ctx.db, 'audit-checkpoint', jobs.checkpointRound),
          logger,
        ),
        scheduleRounds(
          'audit-retention',
          settings.sweepIntervalMs,
          Math.min(FIRST_ROUND_DELAY_MS, settings.sweepIntervalMs),
          () => withJobLock(ctx.db, 'audit-retention', jobs.retentionRound),
          logger,
        ),
      );
    },
    async stop() {
      await Promise.all(schedules.splice(0).map((s) => s.stop()));
    },
  };
}
