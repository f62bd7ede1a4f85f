import type { ServerContext, ServerModule } from '../../runtime/context.js';
import { enrollmentRoutes } from './enrollment-routes.js';
import { createEnrollmentService, type EnrollmentService } from './enrollment-service.js';

/** Bootstrap tokens and token pools (REST). Redemption happens at the OpAMP endpoint (identities). */
export function enrollmentModule(ctx: ServerContext): ServerModule & { service: EnrollmentService } {
  const service = createEnrollmentService({
    db: ctx.db,
    clock: ctx.clock,
    ids: ctx.ids,
    audit: ctx.audit,
    defaultTokenTtlSeconds: ctx.config.enrollment.tokenTtlSeconds,
    poolTokensPerMinute: ctx.config.enrollment.poolTokensPerMinute,
  });
  return { name: 'enrollment', routes: enrollmentRoutes(service), service };
}
