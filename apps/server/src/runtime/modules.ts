import { agentsModule } from '../modules/agents/agents-module.js';
import { authModule } from '../modules/auth/auth-module.js';
import { auditModule } from '../modules/audit/audit-module.js';
import { enrollmentModule } from '../modules/enrollment/enrollment-module.js';
import { identitiesModule } from '../modules/identities/identities-module.js';
import { pkiModule } from '../modules/pki/pki-module.js';
import { testHooksModule } from '../modules/test-hooks/test-hooks-module.js';
import type { ServerContext, ServerModule } from './context.js';

/** Every domain module, in the order their routes and jobs start. */
export function createModules(ctx: ServerContext): ServerModule[] {
  const pki = pkiModule(ctx);
  const enrollment = enrollmentModule(ctx);
  return [
    authModule(ctx),
    agentsModule(ctx),
    auditModule(ctx),
    pki,
    enrollment,
    identitiesModule(ctx, { pki: pki.service, enrollment: enrollment.service }),
    ...(ctx.config.testHooks.enabled ? [testHooksModule(ctx)] : []),
  ];
}
