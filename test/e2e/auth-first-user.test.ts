import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRows } from '../support/audit-rows.js';
import { ScriptedBrowser, signIn, startServerWithIdp, type AuthServer } from '../support/oidc-provider.js';

let env: AuthServer;

beforeAll(async () => {
  // This install's client authenticates with client_secret_basic.
  env = await startServerWithIdp({ client: 'basic' });
  for (const name of ['p1', 'p2', 'p3', 'p4']) env.idp.setAccount(name, { name, 'ampora:role': 'viewer' });
  env.idp.setAccount('late', { name: 'late', 'ampora:role': 'viewer' });
}, 90_000);
afterAll(async () => {
  await env?.close();
});

describe('first user of a new install', () => {
  it('exactly one of several users signing in at once becomes Admin, audited once', async () => {
    const results = await Promise.all(
      ['p1', 'p2', 'p3', 'p4'].map((name) => signIn(new ScriptedBrowser(), env.server.httpUrl, name)),
    );
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const roles = results.map((r) => r.body.role).sort();
    expect(roles).toEqual(['admin', 'viewer', 'viewer', 'viewer']);
    const owner = env.server.database.owner;
    const grants = await auditRows(owner, 'auth.first-admin.grant');
    expect(grants).toHaveLength(1);
    const winner = results.find((r) => r.body.role === 'admin')!.body.id;
    expect(grants[0]!.actor_id).toBe(winner);
    const state = await sql<{ n: number }>`select count(*)::int as n from auth_install_state`.execute(owner);
    expect(state.rows[0]!.n).toBe(1);
  });

  it('never fires again, even after every Admin row is gone', async () => {
    const owner = env.server.database.owner;
    await sql`delete from auth_users where role = 'admin'`.execute(owner);
    const late = await signIn(new ScriptedBrowser(), env.server.httpUrl, 'late');
    expect(late.body.role).toBe('viewer');
  });
});
