import { createHmac } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepRetention } from '@ampora/audit';
import { DEFAULT_TENANT_ID, manualClock, uuidv7Ids, withTenant } from '@ampora/db';
import {
  createAuditRecorder,
  type AuditContext,
  type AuditedChange,
} from '../../apps/server/src/modules/audit/audit-recorder.js';
import { apiOf, jsonPost, type ApiResponse } from '../support/http.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';

let server: ServerProcess;
const DAY = 86_400_000;
const T0 = Date.now() - 10 * DAY;

interface Item {
  seq: number;
  time: string;
  actor: { kind: string; id: string; name: string };
  action: string;
  entity: { type: string; id: string | null };
  outcome: string;
  archived: boolean;
  after: unknown;
}
interface Page {
  items: Item[];
  nextCursor: string | null;
}

const actors: AuditContext['actor'][] = [
  { kind: 'user', id: 'sub-ada', name: 'Ada Lovelace' },
  { kind: 'pat', id: 'pat-ci', name: 'ci-deployer' },
  { kind: 'system', id: 'crl-publisher', name: 'crl-publisher' },
];
const actions = ['pki.certificate.revoke', 'pki.key.activate', 'agents.move'];
const outcomes = ['success', 'denied', 'failure'] as const;

async function write(start: number, n: number, entityType: string) {
  const clock = manualClock(new Date(start));
  const recorder = createAuditRecorder({
    clock,
    ids: uuidv7Ids,
    hmac: (d) => createHmac('sha256', 'e2e').update(d).digest('hex'),
  });
  for (let i = 0; i < n; i++) {
    const ctx: AuditContext = {
      tenantId: DEFAULT_TENANT_ID,
      actor: actors[i % 3]!,
      sourceIp: '198.51.100.4',
      userAgent: 'e2e',
      requestId: `req-${entityType}-${i}`,
    };
    const change: AuditedChange = {
      action: actions[i % 3]!,
      entity: { type: entityType, id: `${entityType}-${i}` },
      after: { i },
      outcome: outcomes[Math.floor(i / 3) % 3],
    };
    await withTenant(server.database.db, DEFAULT_TENANT_ID, (tx) => recorder.record(tx, ctx, change));
    clock.advance(3_600_000);
  }
}

beforeAll(async () => {
  server = await startServerProcess({ AMPORA_API_INSECURE_NO_AUTH: 'true' });
  // Three events old enough for the archive, moved there as the retention sweep would.
  await write(Date.now() - 200 * DAY, 3, 'old');
  await withTenant(server.database.db, DEFAULT_TENANT_ID, (tx) =>
    sweepRetention(tx, { tenantId: DEFAULT_TENANT_ID, hotDays: 90, archiveDays: 2555, now: new Date() }),
  );
  await write(T0, 30, 'e2e');
}, 90_000);
afterAll(async () => {
  await server?.stop();
});

const api: <T = Page>(path: string) => Promise<ApiResponse<T>> = apiOf(() => server);

async function all(query: string): Promise<Item[]> {
  const { status, body } = await api(`/api/audit/events?entityType=e2e&limit=500&${query}`);
  expect(status).toBe(200);
  return body.items;
}

describe('audit search API', () => {
  it('pages through every event newest first, without gaps or repeats', async () => {
    const seen: Item[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { status: number; body: Page } = await api(
        `/api/audit/events?entityType=e2e&limit=7${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(7);
      seen.push(...page.body.items);
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(5);
    expect(seen).toHaveLength(30);
    expect(seen.map((e) => e.entity.id)).toEqual(Array.from({ length: 30 }, (_, i) => `e2e-${29 - i}`));
    const seqs = seen.map((e) => e.seq);
    expect([...seqs].sort((a, b) => b - a)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(30);
  });

  it('filters by actor id or name, and by actor kind', async () => {
    const byId = await all('actor=sub-ada');
    const byName = await all(`actor=${encodeURIComponent('Ada Lovelace')}`);
    expect(byId).toHaveLength(10);
    expect(byName.map((e) => e.seq)).toEqual(byId.map((e) => e.seq));
    expect(byId.every((e) => e.actor.id === 'sub-ada')).toBe(true);
    const pats = await all('actorKind=pat');
    expect(pats.map((e) => e.actor.name)).toEqual(Array(10).fill('ci-deployer'));
  });

  it('filters by entity, exact action, action prefix and outcome', async () => {
    expect((await all('entityId=e2e-4')).map((e) => e.entity.id)).toEqual(['e2e-4']);
    expect((await api('/api/audit/events?entityType=nope')).body.items).toEqual([]);
    const revokes = await all('action=pki.certificate.revoke');
    expect(revokes).toHaveLength(10);
    const pki = await all('action=pki.*');
    expect(pki).toHaveLength(20);
    expect(new Set(pki.map((e) => e.action))).toEqual(
      new Set(['pki.certificate.revoke', 'pki.key.activate']),
    );
    // A prefix is literal: `pki` alone matches no action exactly.
    expect(await all('action=pki')).toEqual([]);
    const denied = await all('outcome=denied');
    expect(denied.every((e) => e.outcome === 'denied')).toBe(true);
    expect(denied).toHaveLength(9);
    const deniedRevokes = await all('outcome=denied&action=pki.certificate.revoke');
    expect(deniedRevokes.every((e) => e.outcome === 'denied' && e.action === 'pki.certificate.revoke')).toBe(
      true,
    );
  });

  it('filters by a half-open time range [from, to)', async () => {
    const from = new Date(T0 + 5 * 3_600_000).toISOString();
    const to = new Date(T0 + 10 * 3_600_000).toISOString();
    const hits = await all(`from=${from}&to=${to}`);
    expect(hits.map((e) => e.entity.id)).toEqual(['e2e-9', 'e2e-8', 'e2e-7', 'e2e-6', 'e2e-5']);
  });

  it('leaves the archive out unless asked, and records every archive search as an event', async () => {
    const hot = await api('/api/audit/events?entityType=old');
    expect(hot.body.items).toEqual([]);
    const withArchive = await api('/api/audit/events?entityType=old&includeArchive=true');
    expect(withArchive.status).toBe(200);
    expect(withArchive.body.items.map((e) => [e.entity.id, e.archived])).toEqual([
      ['old-2', true],
      ['old-1', true],
      ['old-0', true],
    ]);
    const reads = await api('/api/audit/events?action=audit.archive.read');
    expect(reads.body.items).toHaveLength(1);
    expect(reads.body.items[0]).toMatchObject({
      actor: { kind: 'system', id: 'local', name: 'local-development' },
      entity: { type: 'audit_archive', id: null },
      after: { filters: { entityType: 'old' }, returned: 3 },
    });
  });

  it('answers bad parameters with problem+json', async () => {
    for (const q of ['limit=0', 'limit=501', 'action=PKI.*', 'actorKind=robot', 'cursor=!!', 'to=tomorrow']) {
      const res = await api<{ type: string; status: number }>(`/api/audit/events?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.body.status, q).toBe(400);
    }
  });

  it("verifies the caller's chain: intact, then the first bad seq after a superuser edit", async () => {
    const ok = await api<{ ok: boolean; count: number }>('/api/audit/verify');
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ ok: true, tenantId: DEFAULT_TENANT_ID });
    expect(ok.body.count).toBeGreaterThanOrEqual(34);

    const owner = server.database.owner;
    await owner.transaction().execute(async (tx) => {
      await sql`alter table audit_events disable trigger user`.execute(tx);
      await sql`update audit_events set actor_name = 'Mallory' where tenant_id = ${DEFAULT_TENANT_ID} and entity_id = 'e2e-4'`.execute(
        tx,
      );
      await sql`alter table audit_events enable trigger user`.execute(tx);
    });
    const seq = (await all('entityId=e2e-4'))[0]!.seq;
    const bad = await api('/api/audit/verify');
    expect(bad.body).toMatchObject({ ok: false, firstBadSeq: seq, problem: 'hash_mismatch' });
  });
});

describe('audit is part of every change', () => {
  const call = apiOf(() => server);
  it('a change whose audit event cannot be written fails whole: 500 problem, nothing stored, later changes work again', async () => {
    const list = async () => (await call('/api/enrollment/tokens')).body.items.length as number;
    const before = await list();
    // Take the app role's right to append audit events away, as a broken or full audit table would.
    await sql`revoke insert on audit_events from ampora_app`.execute(server.database.owner);
    try {
      const refused = await call('/api/enrollment/tokens', jsonPost({ label: 'must-not-exist' }));
      expect(refused.status).toBe(500);
      expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(JSON.stringify(refused.body)).not.toMatch(/audit_events|permission|ampora_app/);
      expect(await list()).toBe(before);
    } finally {
      await sql`grant insert on audit_events to ampora_app`.execute(server.database.owner);
    }
    const created = await call('/api/enrollment/tokens', jsonPost({ label: 'after-recovery' }));
    expect(created.status).toBe(201);
    expect(await list()).toBe(before + 1);
  });
});
