import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScriptedBrowser, signIn, startServerWithIdp, type AuthServer } from '../support/oidc-provider.js';
import { auditRows } from '../support/audit-rows.js';

let env: AuthServer;
let url: string;
const admin = new ScriptedBrowser();
let csrf: string;

beforeAll(async () => {
  env = await startServerWithIdp();
  url = env.server.httpUrl;
  env.idp.setAccount('ada', { name: 'Ada' });
  env.idp.setAccount('otto', { name: 'Otto', 'ampora:role': 'operator' });
  const signed = await signIn(admin, url, 'ada');
  expect(signed.body.role).toBe('admin');
  csrf = signed.csrf!;
}, 90_000);
afterAll(async () => {
  await env?.close();
});

function asAdmin(path: string, method = 'GET', body?: unknown) {
  return admin.request(`${url}${path}`, {
    method,
    headers: { 'x-csrf-token': csrf, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

const withPat = (token: string, path: string, init: RequestInit = {}) =>
  fetch(`${url}${path}`, { ...init, headers: { ...init.headers, authorization: `Bearer ${token}` } });

const audit = (action: string) => auditRows(env.server.database.owner, action);

async function users() {
  const res = await asAdmin('/api/auth/users');
  expect(res.status).toBe(200);
  return (
    (await res.json()) as { items: Array<{ id: string; sub: string; role: string; roleSource: string }> }
  ).items;
}

describe('personal access tokens', () => {
  let token: string;
  let id: string;

  it('are issued by an Admin, shown once, and stored only as a hash', async () => {
    const res = await asAdmin('/api/auth/tokens', 'POST', {
      name: 'ci-reader',
      role: 'viewer',
      allowedEndpoints: ['GET /api/agents*'],
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const created = (await res.json()) as { id: string; token: string; role: string; createdBy: string };
    expect(created.token).toMatch(/^amp-pat\.[a-z2-7]{52}\.[0-9a-f]{8}$/);
    expect(created).toMatchObject({ role: 'viewer', createdBy: 'Ada' });
    token = created.token;
    id = created.id;
    const list = await (await asAdmin('/api/auth/tokens')).text();
    expect(list).toContain('ci-reader');
    expect(list).not.toContain(token.split('.')[1]);
    const { rows } = await sql<{
      token_hash: string;
    }>`select token_hash from auth_pats where id = ${id}`.execute(env.server.database.owner);
    expect(rows[0]!.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0]!.token_hash).not.toContain(token);
    const events = await audit('auth.pat.create');
    expect(JSON.stringify(events)).not.toContain(token.split('.')[1]);
  });

  it('authenticate as the token, limited to its allowed endpoints, with its name in audit events', async () => {
    const agents = await withPat(token, '/api/agents');
    expect(agents.status).toBe(200);
    const me = await withPat(token, '/api/me');
    expect(me.status).toBe(403);
    const denied = (await audit('auth.access.denied')).filter((e) => e.actor_kind === 'pat');
    expect(denied.at(-1)).toMatchObject({ actor_id: id, actor_name: 'ci-reader', outcome: 'denied' });
    expect(denied.at(-1)!.after).toMatchObject({ reason: 'endpoint', action: 'auth:self:read' });
  });

  it('cannot hold a higher role than, or outlive the role of, the issuer', async () => {
    // An Admin issues an admin PAT; once the issuer is no longer an Admin the token is capped.
    const res = await asAdmin('/api/auth/tokens', 'POST', { name: 'ops-admin', role: 'admin' });
    const pat = (await res.json()) as { token: string };
    expect((await withPat(pat.token, '/api/auth/users')).status).toBe(200);
    // Otto signs in (operator), is made Admin, so Ada can be demoted without leaving the tenant Admin-less.
    const otto = new ScriptedBrowser();
    await signIn(otto, url, 'otto');
    const ottoId = (await users()).find((u) => u.sub === 'otto')!.id;
    const adaId = (await users()).find((u) => u.sub === 'ada')!.id;
    expect((await asAdmin(`/api/auth/users/${ottoId}/role`, 'PUT', { role: 'admin' })).status).toBe(200);
    expect((await asAdmin(`/api/auth/users/${adaId}/role`, 'PUT', { role: 'operator' })).status).toBe(200);
    expect((await withPat(pat.token, '/api/auth/users')).status).toBe(403);
    expect((await withPat(pat.token, '/api/agents')).status).toBe(200);
    // Back to Admin (by Otto, through a bearer-less session of his own).
    const ottoCsrf = otto.cookie(url, 'ampora_csrf')!;
    const restore = await otto.request(`${url}/api/auth/users/${adaId}/role`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'x-csrf-token': ottoCsrf },
      body: JSON.stringify({ role: 'admin' }),
    });
    expect(restore.status).toBe(200);
    expect((await withPat(pat.token, '/api/auth/users')).status).toBe(200);
  });

  it('refuses bad endpoint patterns and expiry times in the past', async () => {
    const bad = await asAdmin('/api/auth/tokens', 'POST', {
      name: 'x',
      role: 'viewer',
      allowedEndpoints: ['api/agents'],
    });
    expect(bad.status).toBe(400);
    const past = await asAdmin('/api/auth/tokens', 'POST', {
      name: 'x',
      role: 'viewer',
      expiresAt: new Date(Date.now() - 1000).toISOString(),
    });
    expect(past.status).toBe(400);
  });

  it('stop working once expired, and the refusal is audited with the PAT as actor', async () => {
    const res = await asAdmin('/api/auth/tokens', 'POST', {
      name: 'short-lived',
      role: 'viewer',
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    });
    const pat = (await res.json()) as { id: string; token: string };
    expect((await withPat(pat.token, '/api/agents')).status).toBe(200);
    // Move the expiry into the past rather than waiting for it.
    await sql`update auth_pats set expires_at = now() - interval '1 second' where id = ${pat.id}`.execute(
      env.server.database.owner,
    );
    expect((await withPat(pat.token, '/api/agents')).status).toBe(401);
    const failed = (await audit('auth.login.failed')).filter((e) => e.actor_kind === 'pat');
    expect(failed.at(-1)).toMatchObject({ actor_id: pat.id, actor_name: 'short-lived' });
    expect(failed.at(-1)!.after).toMatchObject({ method: 'pat', reason: 'expired' });
    expect(String(failed.at(-1)!.after.token)).toMatch(/^hmac:/);
  });

  it('are revoked by an Admin and refused from then on', async () => {
    expect((await asAdmin(`/api/auth/tokens/${id}`, 'DELETE')).status).toBe(204);
    expect((await withPat(token, '/api/agents')).status).toBe(401);
    const list = (await (await asAdmin('/api/auth/tokens')).json()) as {
      items: Array<{ id: string; revokedAt: string }>;
    };
    expect(list.items.find((p) => p.id === id)!.revokedAt).toBeTruthy();
    expect((await audit('auth.pat.revoke')).map((e) => e.actor_id)).toEqual(['ada']);
  });

  it('refuse unknown, mistyped and wrong-kind tokens alike with 401', async () => {
    const unknown = 'amp-pat.' + 'a'.repeat(52);
    const { crc32 } = await import('node:zlib');
    const valid = `${unknown}.${crc32(Buffer.from(unknown)).toString(16).padStart(8, '0')}`;
    for (const t of [
      valid,
      `${unknown}.00000000`,
      'amp-pat.short.12345678',
      'amp-bs.' + 'a'.repeat(52) + '.00000000',
    ]) {
      expect((await withPat(t, '/api/agents')).status).toBe(401);
    }
  });

  it('cannot issue PATs themselves: only a signed-in user can', async () => {
    const res = await asAdmin('/api/auth/tokens', 'POST', { name: 'root', role: 'admin' });
    const pat = (await res.json()) as { token: string };
    const nested = await withPat(pat.token, '/api/auth/tokens', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'child', role: 'admin' }),
    });
    expect(nested.status).toBe(403);
  });
});

describe('the last Admin of a tenant', () => {
  it('cannot be demoted or removed (409), and another Admin can be', async () => {
    const all = await users();
    const ada = all.find((u) => u.sub === 'ada')!;
    const otto = all.find((u) => u.sub === 'otto')!;
    expect((await asAdmin(`/api/auth/users/${otto.id}/role`, 'PUT', { role: 'viewer' })).status).toBe(200);
    const demote = await asAdmin(`/api/auth/users/${ada.id}/role`, 'PUT', { role: 'operator' });
    expect(demote.status).toBe(409);
    expect(demote.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect((await asAdmin(`/api/auth/users/${ada.id}`, 'DELETE')).status).toBe(409);
    expect((await users()).find((u) => u.sub === 'ada')!.role).toBe('admin');
    // A removed user loses sessions and PATs at once.
    expect((await asAdmin(`/api/auth/users/${otto.id}`, 'DELETE')).status).toBe(204);
    expect((await users()).some((u) => u.sub === 'otto')).toBe(false);
    expect((await asAdmin(`/api/auth/users/${otto.id}`, 'DELETE')).status).toBe(404);
  });

  it('is not demoted by the IdP either: a role-claim change keeps the last Admin', async () => {
    env.idp.setAccount('ada', { name: 'Ada', 'ampora:role': 'viewer' });
    // Ada is a first-user Admin; her role is kept whatever the claims say.
    const again = await signIn(new ScriptedBrowser(), url, 'ada');
    expect(again.body.role).toBe('admin');
  });

  it('answers 404, never 403, for a user id of another tenant or none', async () => {
    const res = await asAdmin('/api/auth/users/01a20000-0000-7000-8000-000000000000/role', 'PUT', {
      role: 'viewer',
    });
    expect(res.status).toBe(404);
  });
});
