import { Registry } from 'prom-client';
import { createSoftwareProvider, type KeyProtector } from '@ampora/keys';
import { manualClock, uuidv7Ids, type Database } from '@ampora/db';
import {
  createTenant,
  testAuditRecorder,
  testKeys,
  userContext,
} from '../../../../../test/support/server-fixtures.js';
import { loadConfig } from '../../config/index.js';
import type { Principal, Role } from '../../http/principal.js';
import { createLogger } from '../../observability/logger.js';
import { createApprovals, type ApprovalsService } from '../approvals/approvals-service.js';
import { createUsersService } from '../auth/users-service.js';
import type { CaKeyAlgorithm } from './ca-key-custody.js';
import { createPkiMetrics } from './pki-metrics.js';
import { createPki } from './pki-service.js';
import { pkiSettings } from './pki-settings.js';

/** Shared by this module's tests: real key protector, real audit recorder, a clock the test moves. */

export { createTenant, testKeys };
/** An Admin's audit context; the same shape as any signed-in user's. */
export const adminContext = userContext;

export interface TestPkiOptions {
  db: Database;
  keys?: KeyProtector;
  clock?: ReturnType<typeof manualClock>;
  /** AMPORA_CA_* style overrides, e.g. { AMPORA_CA_TRUSTED_WINDOW_DAYS: '1' }. */
  env?: Record<string, string>;
}

/**
 * A signed-in user of the tenant (subject `sub-<name>`), as the approvals service sees the caller
 * of a request: identity from the real users service, permissions from the real action table.
 */
export function actorOf(
  approvals: Pick<ApprovalsService, 'actor'>,
  tenantId: string,
  name = 'Ada',
  role: Role = 'admin',
) {
  const audit = userContext(tenantId, name);
  const principal: Principal = { kind: 'user', id: audit.actor.id, name, tenantId, role, via: 'bearer' };
  return approvals.actor(principal, audit);
}

/** One PKI instance, as one replica would build it, with its own approvals service. */
export function testPki(o: TestPkiOptions) {
  const clock = o.clock ?? manualClock(new Date());
  const keys = o.keys ?? testKeys();
  const config = loadConfig({ ...o.env });
  const audit = testAuditRecorder(clock);
  const logger = createLogger('silent');
  const software = createSoftwareProvider({
    master: keys.deriveSecret('pki-software-provider'),
    protector: keys,
  });
  const users = createUsersService({
    db: o.db,
    clock,
    ids: uuidv7Ids,
    audit,
    claims: { roleClaim: 'ampora:role', groupsClaim: 'groups', tenantClaim: 'tenant' },
  });
  const approvals = createApprovals({
    db: o.db,
    clock,
    ids: uuidv7Ids,
    audit,
    logger,
    subjects: users,
    requestTtlHours: config.approvals.requestTtlHours,
  });
  const registry = new Registry();
  const pki = createPki({
    db: o.db,
    clock,
    ids: uuidv7Ids,
    audit,
    keys,
    logger,
    settings: pkiSettings(config, () => 8080),
    provider: software,
    software,
    approvals,
    metrics: createPkiMetrics(registry),
  });
  approvals.register(pki.activationHandler);

  /** A rotation requested by Ada and approved by Bob: the way to a new Active key. */
  async function rotateApproved(tenantId: string, algorithm?: CaKeyAlgorithm) {
    const proposed = await pki.rotate(await actorOf(approvals, tenantId, 'Ada'), algorithm);
    await approvals.approve(await actorOf(approvals, tenantId, 'Bob'), proposed.approval.id);
    return (await pki.listKeys()).find((k) => k.id === proposed.key.id)!;
  }

  return { pki, approvals, clock, keys, users, registry, rotateApproved };
}
