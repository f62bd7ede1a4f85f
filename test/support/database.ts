import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { APP_ROLE, createDatabase, DEFAULT_TENANT_ID, withCredentials, type Database } from '@ampora/db';
import { TEMPLATE_DB, TEST_APP_PASSWORD } from './constants.js';
import { withDatabase } from './global-setup.js';

export interface TestDatabase {
  /** Connected as the app role: RLS applies, exactly as in the server. */
  db: Database;
  /** Connected as the cluster owner (a superuser): for set-up and for playing an attacker. */
  owner: Database;
  appUrl: string;
  ownerUrl: string;
  defaultTenantId: string;
  close(): Promise<void>;
}

/** A fresh, fully migrated database cloned from the run's template. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const clusterUrl = inject('pgOwnerUrl');
  const name = `ampora_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: clusterUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name} template ${TEMPLATE_DB}`);
  } finally {
    await admin.end();
  }
  const ownerUrl = withDatabase(clusterUrl, name);
  const appUrl = withCredentials(ownerUrl, APP_ROLE, TEST_APP_PASSWORD);
  const db = createDatabase(appUrl, { max: 5 });
  const owner = createDatabase(ownerUrl, { max: 2 });
  return {
    db,
    owner,
    appUrl,
    ownerUrl,
    defaultTenantId: DEFAULT_TENANT_ID,
    async close() {
      await db.destroy();
      await owner.destroy();
      const c = new pg.Client({ connectionString: clusterUrl });
      await c.connect();
      try {
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}
