import type { AgentTables } from './agents.js';
import type { ApprovalTables } from './approvals.js';
import type { AuditTables } from './audit.js';
import type { AuthTables } from './auth.js';
import type { CoreTables } from './core.js';
import type { EnrollmentTables } from './enrollment.js';
import type { KeyTables } from './keys.js';
import type { PkiTables } from './pki.js';

/**
 * Every table the app reads or writes. Each domain declares its tables in a file of its own here
 * and adds its interface to this list, so that one `Kysely<DB>` types every query.
 */
export interface DB
  extends
    CoreTables,
    AgentTables,
    KeyTables,
    AuditTables,
    AuthTables,
    PkiTables,
    EnrollmentTables,
    ApprovalTables {}
