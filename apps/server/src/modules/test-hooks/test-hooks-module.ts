import type { ServerContext, ServerModule } from '../../runtime/context.js';
import { testHooksRoutes } from './test-hooks-routes.js';

export function testHooksModule(ctx: ServerContext): ServerModule {
  return { name: 'test-hooks', routes: testHooksRoutes(ctx.hub) };
}
