import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createKeyProtector,
  createSoftwareProvider,
  parseMasterKey,
  SOFTWARE_SIGNING_KEY_AAD,
  type KeyProtector,
} from '@ampora/keys';
import { DEFAULT_TENANT_ID, manualClock, systemClock, uuidv7Ids, withTenant } from '@ampora/db';
import { createAuditJobs } from '../../apps/server/src/modules/audit/audit-jobs.js';
import { createAuditMetrics } from '../../apps/server/src/modules/audit/audit-metrics.js';
import { createAuditRecorder } from '../../apps/server/src/modules/audit/audit-recorder.js';
import {
  auditSigningKeyAad,
  createAuditSigningKeys,
} from '../../apps/server/src/modules/audit/audit-signing-keys.js';
import { createLogger } from '../../apps/server/src/observability/logger.js';
import { checkMasterKey } from '../../apps/server/src/runtime/key-protection.js';
import { Registry } from 'prom-client';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { databaseEnv, ROOT } from '../support/server-process.js';

const logger = createLogger('silent');

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI the way `npm run cli --` does, against a test database. */
function cli(t: TestDatabase, args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'apps/server/src/cli.ts', ...args], {
      cwd: ROOT,
      env: {
        ...databaseEnv(t, dataDir),
        AMPORA_LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

let dataDir: string;
const masterKey = randomBytes(32).toString('base64');
const keysFor = (current: string, previous?: string) =>
  createKeyProtector({
    master: parseMasterKey(current),
    previous: previous ? parseMasterKey(previous) : undefined,
  });

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'ampora-cli-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('ampora CLI: usage', () => {
  const noDb = { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' } as unknown as TestDatabase;

  it('prints help for the tool and for each command, exit 0', async () => {
    const env = { AMPORA_KEY_PROTECTION_MASTER_KEY: masterKey };
    const root = await cli(noDb, ['--help'], env);
    expect(root.code).toBe(0);
    expect(root.stdout).toMatch(/audit verify/);
    for (const command of [
      ['audit', 'verify'],
      ['keys', 'rewrap'],
      ['keys', 'generate-master-key'],
    ]) {
      const res = await cli(noDb, [...command, '--help'], env);
      expect(res.code).toBe(0);
      expect(res.stdout).toMatch(new RegExp(`Usage: ampora ${command.join(' ')}`));
    }
  });

  it('generates a fresh 32-byte base64 master key each time', async () => {
    const a = await cli(noDb, ['keys', 'generate-master-key'], {});
    const b = await cli(noDb, ['keys', 'generate-master-key'], {});
    expect(a.code).toBe(0);
    expect(Buffer.from(a.stdout.trim(), 'base64')).toHaveLength(32);
    expect(() => parseMasterKey(a.stdout.trim())).not.toThrow();
    expect(a.stdout).not.toBe(b.stdout);
  });

  it('exits 2 on unknown commands, unknown options and invalid configuration', async () => {
    const env = { AMPORA_KEY_PROTECTION_MASTER_KEY: masterKey };
    expect((await cli(noDb, ['audit', 'frobnicate'], env)).code).toBe(2);
    expect((await cli(noDb, [], env)).code).toBe(2);
    const badOption = await cli(noDb, ['audit', 'verify', '--tenat', 'x'], env);
    expect(badOption.code).toBe(2);
    expect(badOption.stderr).toMatch(/--tenat/);
    const badConfig = await cli(noDb, ['audit', 'verify'], { ...env, AMPORA_AUDIT_PRESET: 'gdpr' });
    expect(badConfig.code).toBe(2);
    expect(badConfig.stderr).toMatch(/AMPORA_AUDIT_PRESET/);
  });
});

describe('ampora audit verify', () => {
  let t: TestDatabase;
  let acme: string;
  const env = { AMPORA_KEY_PROTECTION_MASTER_KEY: masterKey };

  beforeAll(async () => {
    t = await createTestDatabase();
    acme = uuidv7Ids.uuid();
    await t.owner.insertInto('tenants').values({ id: acme, slug: 'acme', name: 'Acme' }).execute();
    const keys = keysFor(masterKey);
    const recorder = createAuditRecorder({
      clock: systemClock,
      ids: uuidv7Ids,
      hmac: (d) => createHmac('sha256', 'k').update(d).digest('hex'),
    });
    for (const tenantId of [DEFAULT_TENANT_ID, acme]) {
      for (let i = 1; i <= 6; i++) {
        await withTenant(t.db, tenantId, (tx) =>
          recorder.record(
            tx,
            {
              tenantId,
              actor: { kind: 'user', id: 'u', name: 'U' },
              sourceIp: null,
              userAgent: null,
              requestId: null,
            },
            { action: 'thing.update', entity: { type: 'thing', id: String(i) }, after: { i } },
          ),
        );
      }
    }
    const jobs = createAuditJobs({
      db: t.db,
      clock: manualClock(new Date()),
      logger,
      audit: recorder,
      signingKeys: createAuditSigningKeys({ db: t.db, keys, clock: systemClock }),
      metrics: createAuditMetrics(new Registry()),
      retention: { hotDays: 90, archiveDays: 2555 },
    });
    expect((await jobs.checkpointRound()).written).toBe(2);
  });
  afterAll(() => t?.close());

  it('exits 0 on intact chains and reports each tenant', async () => {
    const res = await cli(t, ['audit', 'verify'], env);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/tenant acme \(.+\): ok, 7 event\(s\) verified/);
    expect(res.stdout).toMatch(/tenant default \(.+\): ok, 7 event\(s\) verified/);
    const json = await cli(t, ['audit', 'verify', '--tenant', 'acme', '--json'], env);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      ok: true,
      tenants: [{ tenantId: acme, slug: 'acme', ok: true, count: 7 }],
    });
    const byId = await cli(t, ['audit', 'verify', '--tenant', acme, '--json'], env);
    expect(JSON.parse(byId.stdout).tenants).toHaveLength(1);
  });

  it('exits 2 for a tenant that does not exist', async () => {
    const res = await cli(t, ['audit', 'verify', '--tenant', 'nope'], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/no tenant has the id or slug "nope"/);
  });

  it('exits 1 naming the tenant and the first bad seq after a superuser edits a row', async () => {
    await t.owner.transaction().execute(async (tx) => {
      await sql`alter table audit_events disable trigger user`.execute(tx);
      await sql`update audit_events set after = '{"i": 99}' where tenant_id = ${acme} and seq = 4`.execute(
        tx,
      );
      await sql`alter table audit_events enable trigger user`.execute(tx);
    });
    const res = await cli(t, ['audit', 'verify'], env);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/tenant acme \(.+\): BAD at seq 4: hash_mismatch/);
    expect(res.stdout).toMatch(/tenant default \(.+\): ok/);
    const json = JSON.parse((await cli(t, ['audit', 'verify', '--json'], env)).stdout);
    expect(json.ok).toBe(false);
    expect(json.tenants.find((v: { slug: string }) => v.slug === 'acme')).toEqual({
      tenantId: acme,
      slug: 'acme',
      ok: false,
      count: 3,
      firstBadSeq: 4,
      problem: 'hash_mismatch',
    });
  });

  it('exits 1 when the tail is cut and the chain head rewound, which only the signed checkpoint reveals', async () => {
    await t.owner.transaction().execute(async (tx) => {
      await sql`alter table audit_events disable trigger user`.execute(tx);
      await sql`alter table audit_chain_heads disable trigger user`.execute(tx);
      await sql`delete from audit_events where tenant_id = ${DEFAULT_TENANT_ID} and seq >= 6`.execute(tx);
      await sql`update audit_chain_heads h set seq = 5, hash = e.hash from audit_events e
                where h.tenant_id = ${DEFAULT_TENANT_ID} and e.tenant_id = h.tenant_id and e.seq = 5`.execute(
        tx,
      );
      await sql`alter table audit_chain_heads enable trigger user`.execute(tx);
      await sql`alter table audit_events enable trigger user`.execute(tx);
    });
    const res = await cli(t, ['audit', 'verify', '--tenant', 'default'], env);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/BAD at seq 6: truncated/);
  });
});

describe('ampora keys rewrap', () => {
  let t: TestDatabase;
  const oldKey = randomBytes(32).toString('base64');
  const newKey = randomBytes(32).toString('base64');
  const rotated = {
    AMPORA_KEY_PROTECTION_MASTER_KEY: newKey,
    AMPORA_KEY_PROTECTION_PREVIOUS_MASTER_KEY: oldKey,
  };
  const caKeyId = uuidv7Ids.uuid();
  const sessionHash = 'ab'.repeat(32);
  let auditKeyId: string;

  const snapshot = async () => ({
    canary: (await t.owner.selectFrom('key_protection_state').select('canary').executeTakeFirstOrThrow())
      .canary,
    audit: (await t.owner.selectFrom('audit_signing_keys').select('private_key').executeTakeFirstOrThrow())
      .private_key,
    ca: (
      await t.owner
        .selectFrom('ca_signing_keys')
        .select('key_ref')
        .where('id', '=', caKeyId)
        .executeTakeFirstOrThrow()
    ).key_ref,
    session: (
      await sql<{
        v: string;
      }>`select id_token_sealed as v from auth_sessions where token_hash = ${sessionHash}`.execute(t.owner)
    ).rows[0]!.v,
  });

  beforeAll(async () => {
    t = await createTestDatabase();
    const old: KeyProtector = keysFor(oldKey);
    await checkMasterKey(t.db, old, systemClock, logger);
    auditKeyId = await createAuditSigningKeys({ db: t.db, keys: old, clock: systemClock }).ensureActiveKey();
    // A software CA key as the PKI module stores it: the provider's sealed key, sealed again per row.
    const provider = createSoftwareProvider({ master: parseMasterKey(oldKey), protector: old });
    const { keyRef } = await provider.generateSigningKey({ kty: 'EC', curve: 'P-256' });
    await t.owner
      .insertInto('ca_signing_keys')
      .values({
        id: caKeyId,
        state: 'draft',
        algorithm: 'ecdsa-sha256',
        key_spec: 'ecdsa-p256',
        provider: 'software',
        key_ref: await old.sealToString(keyRef, `ca_signing_keys:key_ref:${caKeyId}`),
        source: 'generated',
      })
      .execute();
    // A tenant-scoped sealed column, in a tenant other than the default one.
    const tenant = uuidv7Ids.uuid();
    const user = uuidv7Ids.uuid();
    await t.owner.insertInto('tenants').values({ id: tenant, slug: 'rewrap', name: 'Rewrap' }).execute();
    await sql`insert into auth_users (id, tenant_id, sub, role, role_source, created_at)
      values (${user}, ${tenant}, 'sub-1', 'admin', 'idp', now())`.execute(t.owner);
    const idToken = await old.sealToString('eyJ.id.token', 'auth_sessions.id_token_sealed');
    await sql`insert into auth_sessions (token_hash, tenant_id, user_id, created_at, last_seen_at, expires_at, id_token_sealed)
      values (${sessionHash}, ${tenant}, ${user}, now(), now(), now() + interval '1 hour', ${idToken})`.execute(
      t.owner,
    );
  });
  afterAll(() => t?.close());

  it('--dry-run counts what would move and changes nothing', async () => {
    const before = await snapshot();
    const res = await cli(t, ['keys', 'rewrap', '--dry-run', '--json'], rotated);
    expect(res.code).toBe(0);
    const report = JSON.parse(res.stdout);
    expect(report.canary).toBe('pending');
    const col = (table: string) => report.columns.find((c: { table: string }) => c.table === table);
    expect(col('audit_signing_keys')).toMatchObject({ scanned: 1, rewrapped: 1, failed: 0 });
    expect(col('ca_signing_keys')).toMatchObject({ scanned: 1, rewrapped: 1, failed: 0 });
    expect(col('auth_sessions')).toMatchObject({ scanned: 1, rewrapped: 1, failed: 0 });
    expect(await snapshot()).toEqual(before);
  });

  it('refuses to run with a master key that cannot open the database (exit 2)', async () => {
    const res = await cli(t, ['keys', 'rewrap'], { AMPORA_KEY_PROTECTION_MASTER_KEY: newKey });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/does not match the master key/);
  });

  it('run twice, leaves everything openable under the new key alone', async () => {
    const first = await cli(t, ['keys', 'rewrap'], rotated);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/audit_signing_keys\.private_key: 1 sealed value\(s\), rewrapped 1/);
    expect(first.stdout).toMatch(/ca_signing_keys\.key_ref: 1 sealed value\(s\), rewrapped 1/);
    expect(first.stdout).toMatch(/key-check canary: rewrapped/);
    const afterFirst = await snapshot();

    const second = await cli(t, ['keys', 'rewrap'], rotated);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(
      /audit_signing_keys\.private_key: 1 sealed value\(s\), rewrapped 0, 1 already current/,
    );
    expect(second.stdout).toMatch(/key-check canary: up-to-date/);
    expect(await snapshot()).toEqual(afterFirst);

    const onlyNew = keysFor(newKey);
    expect(await onlyNew.verifyKeyCheck(afterFirst.canary)).toBe('current');
    await expect(onlyNew.open(afterFirst.audit, auditSigningKeyAad(auditKeyId))).resolves.toBeInstanceOf(
      Buffer,
    );
    const inner = await onlyNew.openToString(afterFirst.ca, `ca_signing_keys:key_ref:${caKeyId}`);
    await expect(onlyNew.open(inner, SOFTWARE_SIGNING_KEY_AAD)).resolves.toBeInstanceOf(Buffer);
    expect(await onlyNew.openToString(afterFirst.session, 'auth_sessions.id_token_sealed')).toBe(
      'eyJ.id.token',
    );
    // And the server side: the audit signer opens with the new key alone.
    const signer = await createAuditSigningKeys({ db: t.db, keys: onlyNew, clock: systemClock }).signer();
    expect(signer.keyId).toBe(auditKeyId);

    // The old key alone no longer opens anything.
    await expect(keysFor(oldKey).open(afterFirst.audit, auditSigningKeyAad(auditKeyId))).rejects.toThrow();
  });
});
