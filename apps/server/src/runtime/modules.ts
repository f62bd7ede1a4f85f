import { agentsModule } from '../modules/agents/agents-module.js';
import { testHooksModule } from '../modules/test-hooks/test-hooks-module.js';
import type { ServerContext, ServerModule } from './context.js';

/** Every domain module, in the order their routes and jobs start. */
export function createModules(ctx: ServerContext): ServerModule[] {
  return [agentsModule(ctx), ...(ctx.config.testHooks.enabled ? [testHooksModule(ctx)] : [])];
}
