/**
 * Benchmark: verify a chain of N audit events (default 1,000,000; goal ≤ 60 s).
 *
 *   npx tsx packages/audit/bench/verify-chain.ts [count]
 *
 * Uses AMPORA_BENCH_DATABASE_URL (an owner/superuser URL of a scratch database, migrated here) or
 * starts an embedded PostgreSQL in a temporary directory. Rows are generated with correct hashes
 * and bulk-loaded (audit triggers bypassed for the load only), then verified through the app role.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import {
  APP_ROLE,
  createDatabase,
  DEFAULT_TENANT_ID,
  migrateToLatest,
  startEmbeddedPostgres,
  uuidv7Ids,
  withCredentials,
} from '@ampora/db';
import type { Database } from '@ampora/db';
import {
  computeRecordHash,
  createAuditReader,
  GENESIS_HASH,
  normalizeAuditEvent,
  verifyChain,
} from '../src/index.js';
import type { AuditRecord } from '../src/index.js';

const report = (line: string) => process.stdout.write(`${line}\n`);
const COUNT = Number(process.argv[2] ?? 1_000_000);
const LOAD_BATCH = 10_000;
const APP_PASSWORD = 'ampora_bench_app_password';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function load(owner: Database, tenantId: string, count: number): Promise<void> {
  let prevHash = GENESIS_HASH;
  const start = Date.UTC(2024, 0, 1);
  await sql`set session_replication_role = replica`.execute(owner); // bulk load only: triggers off
  for (let from = 1; from <= count; from += LOAD_BATCH) {
    const rows: AuditRecord[] = [];
    for (let seq = from; seq < Math.min(from + LOAD_BATCH, count + 1); seq++) {
      const event = normalizeAuditEvent(
        {
          tenantId,
          actor: { kind: 'user', id: `sub-${seq % 50}`, name: `User ${seq % 50}` },
          action: 'agent.group.move',
          entity: { type: 'agent', id: `agent-${seq}` },
          before: { group: 'canary', labels: { env: 'prod', region: 'eu-west-1' } },
          after: { group: 'fleet', labels: { env: 'prod', region: 'eu-west-1' } },
          outcome: 'success',
          sourceIp: '198.51.100.20',
          userAgent: 'Mozilla/5.0 (X11; Linux x86_64) ampora-bench',
          requestId: `req-${seq}`,
        },
        new Date(start + seq * 1000),
      );
      const unhashed = { ...event, id: uuidv7Ids.uuid(), seq, prevHash };
      const record = { ...unhashed, hash: computeRecordHash(unhashed) };
      prevHash = record.hash;
      rows.push(record);
    }
    const col = <T>(f: (r: AuditRecord) => T) => rows.map(f);
    await sql`
      insert into audit_events (id, tenant_id, seq, version, prev_hash, hash, time, actor_kind, actor_id, actor_name,
        action, entity_type, entity_id, before, after, outcome, source_ip, user_agent, request_id)
      select * from unnest(${col((r) => r.id)}::uuid[], ${col((r) => r.tenantId)}::uuid[], ${col((r) => r.seq)}::bigint[],
        ${col((r) => r.v)}::smallint[], ${col((r) => r.prevHash)}::text[], ${col((r) => r.hash)}::text[],
        ${col((r) => r.time.toISOString())}::timestamptz[], ${col((r) => r.actor.kind)}::text[], ${col((r) => r.actor.id)}::text[],
        ${col((r) => r.actor.name)}::text[], ${col((r) => r.action)}::text[], ${col((r) => r.entity.type)}::text[],
        ${col((r) => r.entity.id)}::text[], ${col((r) => JSON.stringify(r.before))}::jsonb[],
        ${col((r) => JSON.stringify(r.after))}::jsonb[], ${col((r) => r.outcome)}::text[], ${col((r) => r.sourceIp)}::text[],
        ${col((r) => r.userAgent)}::text[], ${col((r) => r.requestId)}::text[])`.execute(owner);
  }
  await sql`insert into audit_chain_heads (tenant_id, seq, hash) values (${tenantId}, ${count}, ${prevHash})`.execute(
    owner,
  );
  await sql`set session_replication_role = origin`.execute(owner);
  await sql`analyze audit_events`.execute(owner);
}

async function main(): Promise<void> {
  let ownerUrl = process.env.AMPORA_BENCH_DATABASE_URL;
  let stop = async () => {};
  if (!ownerUrl) {
    const dir = await mkdtemp(path.join(tmpdir(), 'ampora-bench-pg-'));
    const pg = await startEmbeddedPostgres({
      dataDir: path.join(dir, 'cluster'),
      port: await freePort(),
      password: 'bench',
    });
    ownerUrl = pg.url;
    stop = async () => {
      await pg.stop();
      await rm(dir, { recursive: true, force: true });
    };
  }
  const owner = createDatabase(ownerUrl, { max: 1 });
  const app = createDatabase(withCredentials(ownerUrl, APP_ROLE, APP_PASSWORD), { max: 2 });
  try {
    await migrateToLatest(owner, { appRolePassword: APP_PASSWORD });
    let t = performance.now();
    await load(owner, DEFAULT_TENANT_ID, COUNT);
    report(`loaded ${COUNT} events in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    t = performance.now();
    const result = await verifyChain(createAuditReader(app), {
      tenantId: DEFAULT_TENANT_ID,
      verifySignature: () => false,
    });
    const seconds = (performance.now() - t) / 1000;
    report(
      `verified: ${JSON.stringify(result)} in ${seconds.toFixed(1)} s (${Math.round(COUNT / seconds)} events/s)`,
    );
    if (!result.ok) process.exitCode = 1;
  } finally {
    await app.destroy();
    await owner.destroy();
    await stop();
  }
}

await main();
