import { manualClock, withTenant, type Database } from '@ampora/db';
import { testAuditRecorder } from '../../../../../test/support/server-fixtures.js';
import {
  systemAuditContext,
  type AuditContext,
  type AuditedChange,
  type AuditRecorder,
} from './audit-recorder.js';

/**
 * Shared by this module's tests: real key protector, real recorder, a clock the test moves. The
 * module-independent fixtures live in test/support/server-fixtures.ts.
 */

export function testRecorder(start = new Date()) {
  const clock = manualClock(start);
  return { clock, recorder: testAuditRecorder(clock) };
}

/** Appends one event per change, each in its own transaction. */
export async function record(
  db: Database,
  recorder: AuditRecorder,
  ctx: AuditContext,
  changes: AuditedChange[],
) {
  for (const change of changes) await withTenant(db, ctx.tenantId, (tx) => recorder.record(tx, ctx, change));
}

export { createTenant, testKeys, userContext } from '../../../../../test/support/server-fixtures.js';
export { systemAuditContext };
