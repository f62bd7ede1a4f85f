import { createHmac, randomBytes } from 'node:crypto';
import { createKeyProtector, createSoftwareProvider, type KeyProtector } from '@ampora/keys';
import { manualClock, uuidv7Ids, type Database } from '@ampora/db';
import { loadConfig } from '../../config/index.js';
import { createLogger } from '../../observability/logger.js';
import { createAuditRecorder, type AuditContext } from '../audit/audit-recorder.js';
import { createPki } from './pki-service.js';
import { pkiSettings } from './pki-settings.js';

/** Shared by this module's tests: real key protector, real audit recorder, a clock the test moves. */

export function testKeys(master: Buffer = randomBytes(32)): KeyProtector {
  return createKeyProtector({ master });
}

export interface TestPkiOptions {
  db: Database;
  keys?: KeyProtector;
  clock?: ReturnType<typeof manualClock>;
  /** AMPORA_CA_* style overrides, e.g. { AMPORA_CA_TRUSTED_WINDOW_DAYS: '1' }. */
  env?: Record<string, string>;
}

/** One PKI instance, as one replica would build it. */
export function testPki(o: TestPkiOptions) {
  const clock = o.clock ?? manualClock(new Date());
  const keys = o.keys ?? testKeys();
  const config = loadConfig({ ...o.env });
  const audit = createAuditRecorder({
    clock,
    ids: uuidv7Ids,
    hmac: (data) => createHmac('sha256', 'test').update(data).digest('hex'),
  });
  const software = createSoftwareProvider({
    master: keys.deriveSecret('pki-software-provider'),
    protector: keys,
  });
  const pki = createPki({
    db: o.db,
    clock,
    ids: uuidv7Ids,
    audit,
    keys,
    logger: createLogger('silent'),
    settings: pkiSettings(config, () => 8080),
    provider: software,
    software,
  });
  return { pki, clock, keys };
}

export async function createTenant(owner: Database, slug: string): Promise<string> {
  const id = uuidv7Ids.uuid();
  await owner.insertInto('tenants').values({ id, slug, name: slug }).execute();
  return id;
}

export function adminContext(tenantId: string, name = 'Ada'): AuditContext {
  return {
    tenantId,
    actor: { kind: 'user', id: `sub-${name.toLowerCase()}`, name },
    sourceIp: '203.0.113.9',
    userAgent: 'test',
    requestId: null,
  };
}
