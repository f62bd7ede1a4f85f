import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import {
  createDatabase,
  DEFAULT_TENANT_ID,
  defaultMigrationsDir,
  migrateToLatest,
  uuidv7Ids,
  withCredentials,
  type Database,
} from '@ampora/db';
import { withDatabase } from '../../../../../test/support/global-setup.js';

/**
 * 0014 on a database that already holds requests, migrated by an owner that is not a superuser,
 * as in a production install: forced row-level security binds that owner too.
 */

const suffix = randomBytes(6).toString('hex');
const role = `ampora_t_owner_${suffix}`;
const database = `ampora_t_${suffix}`;
const password = randomBytes(16).toString('hex');
let clusterUrl: string;
let owner: Database;
let before0014: string;

async function asCluster(statement: string) {
  const c = new pg.Client({ connectionString: clusterUrl });
  await c.connect();
  try {
    await c.query(statement);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  clusterUrl = inject('pgOwnerUrl');
  await asCluster(`create role ${role} login nosuperuser nocreatedb nocreaterole password '${password}'`);
  await asCluster(`create database ${database} owner ${role}`);
  owner = createDatabase(withCredentials(withDatabase(clusterUrl, database), role, password), { max: 1 });
  before0014 = await mkdtemp(path.join(tmpdir(), 'ampora-migrations-'));
  for (const file of await readdir(defaultMigrationsDir)) {
    if (/^\d{4}_/.test(file) && file < '0014_') {
      await cp(path.join(defaultMigrationsDir, file), path.join(before0014, file));
    }
  }
});

afterAll(async () => {
  await owner?.destroy();
  await asCluster(`drop database if exists ${database} with (force)`);
  await asCluster(`drop role if exists ${role}`);
  await rm(before0014, { recursive: true, force: true });
});

it('gives requests made before it the default 72-hour lifetime and keeps row-level security forced', async () => {
  await migrateToLatest(owner, { migrationsDir: before0014 });
  const requestedAt = new Date('2026-01-05T10:00:00.000Z');
  const pending = uuidv7Ids.uuid();
  const cancelled = uuidv7Ids.uuid();
  await owner.transaction().execute(async (tx) => {
    await sql`select set_config('app.tenant_id', ${DEFAULT_TENANT_ID}, true)`.execute(tx);
    for (const [id, status] of [
      [pending, 'pending'],
      [cancelled, 'cancelled'],
    ] as const) {
      const decided = status === 'cancelled';
      await sql`
        insert into approval_requests (tenant_id, id, kind, entity_type, entity_id, status,
          requested_by_identity, requested_by_kind, requested_by_id, requested_by_name, requested_at,
          decided_by_identity, decided_by_kind, decided_by_id, decided_by_name, decided_at)
        values (${DEFAULT_TENANT_ID}, ${id}, 'pki.signing-key.activate', 'signing-key', ${uuidv7Ids.uuid()},
          ${status}, 'oidc:sub-ada', 'user', 'sub-ada', 'ada', ${requestedAt},
          ${decided ? 'oidc:sub-ada' : null}, ${decided ? 'user' : null}, ${decided ? 'sub-ada' : null},
          ${decided ? 'ada' : null}, ${decided ? requestedAt : null})`.execute(tx);
    }
  });

  const applied = await migrateToLatest(owner, {});
  expect(applied).toContain('0014_approval_expiry');

  // Read as the cluster owner (a superuser), past row-level security.
  const c = new pg.Client({ connectionString: withDatabase(clusterUrl, database) });
  await c.connect();
  try {
    const rows = await c.query<{ id: string; expires_at: Date }>(
      'select id, expires_at from approval_requests order by id',
    );
    expect(rows.rows.map((r) => [r.id, r.expires_at.toISOString()])).toEqual(
      [pending, cancelled].sort().map((id) => [id, '2026-01-08T10:00:00.000Z']),
    );
    const rls = await c.query<{ relrowsecurity: boolean; relforcerowsecurity: boolean }>(
      "select relrowsecurity, relforcerowsecurity from pg_class where oid = 'approval_requests'::regclass",
    );
    expect(rls.rows[0]).toEqual({ relrowsecurity: true, relforcerowsecurity: true });
  } finally {
    await c.end();
  }
});
