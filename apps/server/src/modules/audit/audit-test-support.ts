import { createHmac, randomBytes } from 'node:crypto';
import { createKeyProtector } from '@ampora/keys';
import { manualClock, uuidv7Ids, withTenant, type Database } from '@ampora/db';
import {
  createAuditRecorder,
  systemAuditContext,
  type AuditContext,
  type AuditedChange,
} from './audit-recorder.js';

/** Shared by this module's tests: real key protector, real recorder, a clock the test moves. */

export function testKeys() {
  return createKeyProtector({ master: randomBytes(32) });
}

export function testRecorder(start = new Date()) {
  const clock = manualClock(start);
  const recorder = createAuditRecorder({
    clock,
    ids: uuidv7Ids,
    hmac: (data) => createHmac('sha256', 'test').update(data).digest('hex'),
  });
  return { clock, recorder };
}

export async function createTenant(owner: Database, slug: string): Promise<string> {
  const id = uuidv7Ids.uuid();
  await owner.insertInto('tenants').values({ id, slug, name: slug }).execute();
  return id;
}

export function userContext(tenantId: string, name = 'Ada'): AuditContext {
  return {
    tenantId,
    actor: { kind: 'user', id: `sub-${name.toLowerCase()}`, name },
    sourceIp: '203.0.113.9',
    userAgent: 'test',
    requestId: null,
  };
}

/** Appends one event per change, each in its own transaction. */
export async function record(
  db: Database,
  recorder: ReturnType<typeof createAuditRecorder>,
  ctx: AuditContext,
  changes: AuditedChange[],
) {
  for (const change of changes) await withTenant(db, ctx.tenantId, (tx) => recorder.record(tx, ctx, change));
}

export { systemAuditContext };
