import { createSoftwareProvider, type KeyProtector } from '@ampora/keys';
import { manualClock, uuidv7Ids, type Database } from '@ampora/db';
import {
  createTenant,
  testAuditRecorder,
  testKeys,
  userContext,
} from '../../../../../test/support/server-fixtures.js';
import { loadConfig } from '../../config/index.js';
import { createLogger } from '../../observability/logger.js';
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

/** One PKI instance, as one replica would build it. */
export function testPki(o: TestPkiOptions) {
  const clock = o.clock ?? manualClock(new Date());
  const keys = o.keys ?? testKeys();
  const config = loadConfig({ ...o.env });
  const audit = testAuditRecorder(clock);
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
