import { createHmac, randomBytes } from 'node:crypto';
import { createKeyProtector, type KeyProtector } from '@ampora/keys';
import { uuidv7Ids, type Clock, type Database } from '@ampora/db';
import {
  createAuditRecorder,
  type AuditContext,
  type AuditRecorder,
} from '../../apps/server/src/modules/audit/audit-recorder.js';

/** Building blocks for server module tests: real key protector, real audit recorder, real tenants. */

/** A key protector over a fresh random master key (or the one given, to play a second replica). */
export function testKeys(master: Buffer = randomBytes(32)): KeyProtector {
  return createKeyProtector({ master });
}

/** An audit recorder on the given clock, chaining with a fixed test HMAC key. */
export function testAuditRecorder(clock: Clock): AuditRecorder {
  return createAuditRecorder({
    clock,
    ids: uuidv7Ids,
    hmac: (data) => createHmac('sha256', 'test').update(data).digest('hex'),
  });
}

/** Inserts a tenant as the owner (tenants are not created through the API) and returns its id. */
export async function createTenant(owner: Database, slug: string): Promise<string> {
  const id = uuidv7Ids.uuid();
  await owner.insertInto('tenants').values({ id, slug, name: slug }).execute();
  return id;
}

/** The audit context of a signed-in user of the tenant, as the HTTP layer would build it. */
export function userContext(tenantId: string, name = 'Ada'): AuditContext {
  return {
    tenantId,
    actor: { kind: 'user', id: `sub-${name.toLowerCase()}`, name },
    sourceIp: '203.0.113.9',
    userAgent: 'test',
    requestId: null,
  };
}
