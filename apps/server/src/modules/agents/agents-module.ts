import type { ServerContext, ServerModule } from '../../runtime/context.js';
import { agentsRoutes } from './agents-routes.js';
import { createAgentsService } from './agents-service.js';

export function agentsModule(ctx: ServerContext): ServerModule {
  return { name: 'agents', routes: agentsRoutes(createAgentsService({ db: ctx.db })) };
}
