/**
 * Audit benchmark: audited writes per second (parallel appends across tenants, and contending
 * within one tenant), and the time `verifyChain` takes over a chain of N events (default
 * 1,000,000; goal ≤ 60 s).
 *
 *   npm run bench -- audit [--events 1000000] [--seconds 5] [--writers 32]
 *
 * Uses AMPORA_BENCH_DATABASE_URL (owner URL of a scratch database, migrated here) or a fresh
 * embedded PostgreSQL in a temporary directory, removed afterwards.
 */
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { sql } from 'kysely';
import {
  computeRecordHash,
  createAuditReader,
  GENESIS_HASH,
  normalizeAuditEvent,
  verifyChain,
  type AuditRecord,
} from '@ampora/audit';
import {
  APP_ROLE,
  createDatabase,
  migrateToLatest,
  systemClock,
  uuidv7Ids,
  withCredentials,
  withTenant,
  type Database,
} from '@ampora/db';
import {
  createAuditRecorder,
  type AuditContext,
} from '../../apps/server/src/modules/audit/audit-recorder.js';
import { benchDatabase, report } from './harness.js';

const APP_PASSWORD = 'ampora_bench_app_password';
const LOAD_BATCH = 10_000;

async function createTenants(owner: Database, prefix: string, n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, () => uuidv7Ids.uuid());
  for (const [i, id] of ids.entries()) {
    await owner
      .insertInto('tenants')
      .values({ id, slug: `${prefix}-${i}`, name: `${prefix} ${i}` })
      .execute();
  }
  return ids;
}

/** `writers` concurrent loops, each appending one audited event per transaction, for `seconds`. */
async function appendLoad(db: Database, tenants: string[], writers: number, seconds: number) {
  const recorder = createAuditRecorder({
    clock: systemClock,
    ids: uuidv7Ids,
    hmac: (d) => createHmac('sha256', 'bench').update(d).digest('hex'),
  });
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  const worker = async (w: number) => {
    const tenantId = tenants[w % tenants.length]!;
    const ctx: AuditContext = {
      tenantId,
      actor: { kind: 'user', id: `sub-${w}`, name: `Writer ${w}` },
      sourceIp: '198.51.100.20',
      userAgent: 'ampora-bench',
      requestId: null,
    };
    while (performance.now() < deadline) {
      await withTenant(db, tenantId, (tx) =>
        recorder.record(tx, ctx, {
          action: 'agents.move',
          entity: { type: 'agent', id: `agent-${done}` },
          before: { group: 'canary' },
          after: { group: 'fleet', labels: { env: 'prod' } },
        }),
      );
      done++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: writers }, (_, w) => worker(w)));
  return done / ((performance.now() - started) / 1000);
}

/** A valid chain of `count` events, hashed here and bulk-loaded with the audit triggers off. */
async function loadChain(owner: Database, tenantId: string, count: number): Promise<void> {
  let prevHash = GENESIS_HASH;
  const start = Date.UTC(2024, 0, 1);
  await owner.connection().execute(async (conn) => {
    await sql`set session_replication_role = replica`.execute(conn); // bulk load only
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
        insert into audit_events (id, tenant_id, seq, version, prev_hash, hash, time, actor_kind, actor_id,
          actor_name, action, entity_type, entity_id, before, after, outcome, source_ip, user_agent, request_id)
        select * from unnest(${col((r) => r.id)}::uuid[], ${col((r) => r.tenantId)}::uuid[],
          ${col((r) => r.seq)}::bigint[], ${col((r) => r.v)}::smallint[], ${col((r) => r.prevHash)}::text[],
          ${col((r) => r.hash)}::text[], ${col((r) => r.time.toISOString())}::timestamptz[],
          ${col((r) => r.actor.kind)}::text[], ${col((r) => r.actor.id)}::text[], ${col((r) => r.actor.name)}::text[],
          ${col((r) => r.action)}::text[], ${col((r) => r.entity.type)}::text[], ${col((r) => r.entity.id)}::text[],
          ${col((r) => JSON.stringify(r.before))}::jsonb[], ${col((r) => JSON.stringify(r.after))}::jsonb[],
          ${col((r) => r.outcome)}::text[], ${col((r) => r.sourceIp)}::text[], ${col((r) => r.userAgent)}::text[],
          ${col((r) => r.requestId)}::text[])`.execute(conn);
    }
    await sql`insert into audit_chain_heads (tenant_id, seq, hash) values (${tenantId}, ${count}, ${prevHash})
      on conflict (tenant_id) do update set seq = excluded.seq, hash = excluded.hash`.execute(conn);
    await sql`set session_replication_role = origin`.execute(conn);
  });
  await sql`analyze audit_events`.execute(owner);
}

export async function run(args: Record<string, string>): Promise<void> {
  const events = Number(args.events ?? 1_000_000);
  const seconds = Number(args.seconds ?? 5);
  const writers = Number(args.writers ?? 32);
  const dir = await mkdtemp(path.join(tmpdir(), 'ampora-bench-audit-'));
  const { url: ownerUrl, stop: stopPg } = await benchDatabase(dir);
  const owner = createDatabase(ownerUrl, { max: 2 });
  const app = createDatabase(withCredentials(ownerUrl, APP_ROLE, APP_PASSWORD), { max: writers + 2 });
  try {
    await migrateToLatest(owner, { appRolePassword: APP_PASSWORD });
    const suffix = Date.now().toString(36);
    console.log(`audit benchmark: ${writers} writers for ${seconds} s per phase, chain of ${events} events`);

    const spread = await createTenants(owner, `bench-spread-${suffix}`, 4);
    report('audited writes/s, 4 tenants', await appendLoad(app, spread, writers, seconds), 'events/s');
    const [single] = await createTenants(owner, `bench-single-${suffix}`, 1);
    report(
      'audited writes/s, 1 tenant (contended)',
      await appendLoad(app, [single!], writers, seconds),
      'events/s',
    );

    const [chain] = await createTenants(owner, `bench-chain-${suffix}`, 1);
    let t = performance.now();
    await loadChain(owner, chain!, events);
    report(`bulk load of ${events} events (setup)`, (performance.now() - t) / 1000, 's');
    t = performance.now();
    const result = await verifyChain(createAuditReader(app), {
      tenantId: chain!,
      verifySignature: () => false,
    });
    const verifySeconds = (performance.now() - t) / 1000;
    if (!result.ok || result.count !== events) {
      throw new Error(`verification of the generated chain failed: ${JSON.stringify(result)}`);
    }
    // The goal is 60 s per million events; scale it when a different size was asked for.
    report(`verifyChain, ${events} events`, verifySeconds, 's', {
      value: (60 * events) / 1_000_000,
      higherIsBetter: false,
    });
    report('verifyChain rate', events / verifySeconds, 'events/s');
  } finally {
    await app.destroy();
    await owner.destroy();
    await stopPg();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args: Record<string, string> = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i]!.startsWith('--')) args[argv[i]!.slice(2)] = argv[++i] ?? 'true';
  }
  await run(args);
}
