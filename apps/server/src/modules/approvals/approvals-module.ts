import type { ServerContext, ServerModule } from '../../runtime/context.js';
import { approvalsRoutes } from './approvals-routes.js';
import { createApprovals, type ApprovalsDeps, type ApprovalsService } from './approvals-service.js';

export interface ApprovalsModule extends ServerModule {
  /** For modules that put a change behind four eyes: register a kind, open requests. */
  service: ApprovalsService;
}

/** Four-eyes approvals. Owning modules register their kinds on `service` when they are built. */
export function approvalsModule(ctx: ServerContext, deps: Pick<ApprovalsDeps, 'subjects'>): ApprovalsModule {
  const service = createApprovals({
    db: ctx.db,
    clock: ctx.clock,
    ids: ctx.ids,
    audit: ctx.audit,
    logger: ctx.logger.child({ component: 'approvals' }),
    subjects: deps.subjects,
    requestTtlHours: ctx.config.approvals.requestTtlHours,
  });
  return { name: 'approvals', routes: approvalsRoutes(service), service };
}
