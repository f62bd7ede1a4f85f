import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { sql } from 'kysely';
import { manualClock, uuidv7Ids, withTenant } from '@ampora/db';
import type { Database } from '@ampora/db';
import { appendAuditEvent } from './append.js';
import type { AuditRecord } from './chain.js';
import type { CheckpointSigner } from './checkpoint.js';
import type { NewAuditEvent } from './events.js';
import type { VerifyOptions } from './verify.js';

/** Shared by this package's database tests; not part of the public entry. */

export const ids = uuidv7Ids;

export function sampleEvent(tenantId: string, n: number, extra: Partial<NewAuditEvent> = {}): NewAuditEvent {
  return {
    tenantId,
    actor: { kind: 'user', id: 'sub-ada', name: 'Ada Lovelace' },
    action: 'configuration.version.publish',
    entity: { type: 'configuration', id: `cfg-${n}` },
    before: { state: 'draft', n },
    after: { state: 'published', n, labels: { team: 'edge', é: [1.5, null, true] } },
    outcome: 'success',
    sourceIp: '203.0.113.7',
    userAgent: 'ampora-test/1.0',
    requestId: `req-${n}`,
    ...extra,
  };
}

/** Appends `count` events one transaction each, with times one minute apart from `start`. */
export async function appendMany(
  db: Database,
  tenantId: string,
  count: number,
  start = new Date('2020-01-01T00:00:00.000Z'),
  firstN = 1,
): Promise<AuditRecord[]> {
  const clock = manualClock(start);
  const out: AuditRecord[] = [];
  for (let i = 0; i < count; i++) {
    out.push(
      await withTenant(db, tenantId, (tx) =>
        appendAuditEvent(tx, sampleEvent(tenantId, firstN + i), { clock, ids }),
      ),
    );
    clock.advance(60_000);
  }
  return out;
}

/** A second tenant, created as the owner (the app role cannot create tenants). */
export async function createTenant(owner: Database, slug: string): Promise<string> {
  const id = ids.uuid();
  await owner.insertInto('tenants').values({ id, slug, name: slug }).execute();
  return id;
}

export function ed25519Signer(keyId = 'audit-key-1'): {
  signer: CheckpointSigner;
  verifySignature: VerifyOptions['verifySignature'];
} {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    signer: { keyId, sign: (payload) => sign(null, payload, privateKey) },
    verifySignature: (kid, payload, signature) =>
      kid === keyId && verify(null, payload, publicKey, signature),
  };
}

/** Runs statements as the owner with the audit triggers switched off, as a superuser attacker would. */
export async function tamper(owner: Database, statements: string[]): Promise<void> {
  await owner.transaction().execute(async (tx) => {
    await sql`alter table audit_events disable trigger user`.execute(tx);
    await sql`alter table audit_events_archive disable trigger user`.execute(tx);
    await sql`alter table audit_chain_heads disable trigger user`.execute(tx);
    await sql`alter table audit_checkpoints disable trigger user`.execute(tx);
    for (const statement of statements) await sql.raw(statement).execute(tx);
    await sql`alter table audit_events enable trigger user`.execute(tx);
    await sql`alter table audit_events_archive enable trigger user`.execute(tx);
    await sql`alter table audit_chain_heads enable trigger user`.execute(tx);
    await sql`alter table audit_checkpoints enable trigger user`.execute(tx);
  });
}
