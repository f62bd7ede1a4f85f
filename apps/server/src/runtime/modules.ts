import { agentsModule } from '../modules/agents/agents-module.js';
import { approvalsModule } from '../modules/approvals/approvals-module.js';
import { authModule } from '../modules/auth/auth-module.js';
import { auditModule } from '../modules/audit/audit-module.js';
import { enrollmentModule } from '../modules/enrollment/enrollment-module.js';
import { identitiesModule } from '../modules/identities/identities-module.js';
import { pkiModule } from '../modules/pki/pki-module.js';
import { testHooksModule } from '../modules/test-hooks/test-hooks-module.js';
import type { ServerContext, ServerModule } from './context.js';

/** Every domain module, in the order their routes and jobs start. */
export function createModules(ctx: ServerContext): ServerModule[] {
  const auth = authModule(ctx);
  const approvals = approvalsModule(ctx, { subjects: auth.users });
  const pki = pkiModule(ctx, { approvals: approvals.service });
  const enrollment = enrollmentModule(ctx);
  return [
    auth,
    agentsModule(ctx),
    auditModule(ctx),
    approvals,
    pki,
    enrollment,
    identitiesModule(ctx, { pki: pki.service, enrollment: enrollment.service }),
    ...(ctx.config.testHooks.enabled ? [testHooksModule(ctx)] : []),
  ];
}
