import { createHash } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_RESOURCE,
  OTHER_RESOURCE,
  ScriptedBrowser,
  cliAccessToken,
  signIn,
  startServerWithIdp,
  type AuthServer,
} from '../support/oidc-provider.js';
import { auditRows } from '../support/audit-rows.js';

let env: AuthServer;
let url: string;

beforeAll(async () => {
  env = await startServerWithIdp();
  url = env.server.httpUrl;
  const { idp } = env;
  idp.setAccount('alice', { name: 'Alice', email: 'alice@example.test' });
  idp.setAccount('victor', { name: 'Victor', 'ampora:role': ['Viewer'] });
  idp.setAccount('olga', { name: 'Olga', 'ampora:role': ['viewer', 'operator'] });
  idp.setAccount('nora', { name: 'Nora' });
  idp.setAccount('gus', { name: 'Gus', groups: ['acme-eu-operators'], 'ampora:role': 'admin' });
  idp.setAccount('tess', { name: 'Tess', 'ampora:role': 'viewer', tenant: 'no-such-tenant' });
}, 90_000);
afterAll(async () => {
  await env?.close();
});

const auditEvents = (action: string) => auditRows(env.server.database.owner, action);

describe('sign-in through the browser redirect flow (OIDC code + PKCE)', () => {
  let alice: ScriptedBrowser;
  let aliceCsrf: string;

  it('sends the browser to the IdP with PKCE S256, state and nonce, and a sealed HttpOnly state cookie', async () => {
    const res = await new ScriptedBrowser().request(`${url}/auth/login`);
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(location.origin).toBe(env.idp.issuer);
    expect(location.searchParams.get('code_challenge_method')).toBe('S256');
    expect(location.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(location.searchParams.get('state')).toBeTruthy();
    expect(location.searchParams.get('nonce')).toBeTruthy();
    expect(location.searchParams.get('redirect_uri')).toBe(`${url}/auth/callback`);
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('ampora_login='))!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    expect(cookie).not.toContain(location.searchParams.get('state')!);
  });

  it('the first user of the install becomes Admin regardless of claims, audited once', async () => {
    alice = new ScriptedBrowser();
    const result = await signIn(alice, url, 'alice');
    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({
      kind: 'user',
      id: 'alice',
      name: 'Alice',
      role: 'admin',
      via: 'session',
    });
    expect(result.csrf).toBeTruthy();
    expect(result.body.csrfToken).toBe(result.csrf);
    aliceCsrf = result.csrf!;
    const grants = await auditEvents('auth.first-admin.grant');
    expect(grants).toHaveLength(1);
    expect(grants[0]).toMatchObject({ actor_kind: 'user', actor_id: 'alice', outcome: 'success' });
    expect(await auditEvents('auth.login')).toHaveLength(1);
  });

  it('sets the session cookie HttpOnly, SameSite=Lax, not Secure over plain http, and stores only its hash', async () => {
    const b = new ScriptedBrowser();
    const start = await b.request(`${url}/auth/login`);
    const end = await b.navigate(start.headers.get('location')!, {
      account: 'victor',
      stopAt: (u) => u.startsWith(`${url}/auth/callback`),
    });
    const callback = await b.request(end.url);
    expect(callback.status).toBe(303);
    const cookie = callback.headers.getSetCookie().find((c) => c.startsWith('ampora_session='))!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    expect(cookie).not.toMatch(/Secure/i);
    const raw = decodeURIComponent(b.cookie(url, 'ampora_session')!);
    const value = raw.slice(0, raw.lastIndexOf('.'));
    const { rows } = await sql<{ token_hash: string }>`select token_hash from auth_sessions`.execute(
      env.server.database.owner,
    );
    const hashes = rows.map((r) => r.token_hash);
    expect(hashes).toContain(createHash('sha256').update(value).digest('hex'));
    expect(hashes.join()).not.toContain(value.split('.')[1]);
  });

  it('later users get the role their claims grant (a list: the highest wins); the first-user rule never fires again', async () => {
    const victor = await signIn(new ScriptedBrowser(), url, 'victor');
    expect(victor.body).toMatchObject({ id: 'victor', role: 'viewer' });
    const olga = await signIn(new ScriptedBrowser(), url, 'olga');
    expect(olga.body).toMatchObject({ id: 'olga', role: 'operator' });
    expect(await auditEvents('auth.first-admin.grant')).toHaveLength(1);
  });

  it('refuses a user whom no claim or mapping grants a role, with 403 and an audit event', async () => {
    const nora = await signIn(new ScriptedBrowser(), url, 'nora');
    expect(nora.status).toBe(403);
    expect(nora.body.type).toMatch(/login-denied$/);
    const failed = await auditEvents('auth.login.failed');
    expect(
      failed.some((e) => e.actor_id === 'nora' && e.after?.reason === 'no-role' && e.outcome === 'denied'),
    ).toBe(true);
  });

  it('refuses a tenant claim naming no tenant', async () => {
    const tess = await signIn(new ScriptedBrowser(), url, 'tess');
    expect(tess.status).toBe(403);
    const failed = await auditEvents('auth.login.failed');
    expect(failed.some((e) => e.actor_id === 'tess' && e.after?.reason === 'unknown-tenant')).toBe(true);
  });

  it('refuses a callback without the state cookie (login CSRF) and a replayed authorization response', async () => {
    const b = new ScriptedBrowser();
    const start = await b.request(`${url}/auth/login`);
    const end = await b.navigate(start.headers.get('location')!, {
      account: 'victor',
      stopAt: (u) => u.startsWith(`${url}/auth/callback`),
    });
    const stranger = new ScriptedBrowser();
    const forged = await stranger.request(end.url);
    expect(forged.status).toBe(401);
    expect((await forged.json()).type).toMatch(/login-failed$/);
    expect(stranger.cookie(url, 'ampora_session')).toBeUndefined();
    // The state cookie is single-use: the same response a second time is refused.
    expect((await b.request(end.url)).status).toBe(303);
    expect((await b.request(end.url)).status).toBe(401);
  });

  it('maps IdP groups to roles per tenant; while mappings exist the role claim is ignored', async () => {
    const before = await signIn(new ScriptedBrowser(), url, 'gus');
    expect(before.body.role).toBe('admin'); // from the role claim, no mapping yet
    const put = await alice.request(`${url}/api/auth/role-mappings`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'x-csrf-token': aliceCsrf },
      body: JSON.stringify({ mappings: [{ group: 'acme-eu-operators', role: 'operator' }] }),
    });
    expect(put.status).toBe(200);
    expect((await put.json()).mappings).toEqual([{ group: 'acme-eu-operators', role: 'operator' }]);
    const after = await signIn(new ScriptedBrowser(), url, 'gus');
    expect(after.body.role).toBe('operator');
    const changes = await auditEvents('auth.role-mappings.update');
    expect(changes).toHaveLength(1);
    // Victor has no mapped group: with mappings in place he no longer has a role.
    expect((await signIn(new ScriptedBrowser(), url, 'victor')).status).toBe(403);
    await alice.request(`${url}/api/auth/role-mappings`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'x-csrf-token': aliceCsrf },
      body: JSON.stringify({ mappings: [] }),
    });
  });

  it('refuses cookie-authenticated mutations without the CSRF header, from another origin, or cross-site', async () => {
    const body = JSON.stringify({ name: 'csrf-probe', role: 'viewer' });
    const base = { method: 'POST', body };
    const cases: Array<Record<string, string>> = [
      { 'content-type': 'application/json' },
      { 'content-type': 'application/json', 'x-csrf-token': 'forged' },
      { 'content-type': 'application/json', 'x-csrf-token': aliceCsrf, origin: 'https://evil.example' },
      { 'content-type': 'application/json', 'x-csrf-token': aliceCsrf, 'sec-fetch-site': 'cross-site' },
    ];
    for (const headers of cases) {
      const res = await alice.request(`${url}/api/auth/tokens`, { ...base, headers });
      expect(res.status).toBe(403);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect((await res.json()).type).toMatch(/csrf$/);
    }
    const ok = await alice.request(`${url}/api/auth/tokens`, {
      ...base,
      headers: {
        'content-type': 'application/json',
        'x-csrf-token': aliceCsrf,
        origin: url,
        'sec-fetch-site': 'same-origin',
      },
    });
    expect(ok.status).toBe(201);
    const denied = await auditEvents('auth.access.denied');
    expect(denied.filter((e) => e.after?.reason === 'csrf').length).toBeGreaterThanOrEqual(cases.length);
  });

  it('ignores identity headers set by proxies', async () => {
    const res = await fetch(`${url}/api/me`, {
      headers: {
        'x-forwarded-user': 'alice',
        'x-auth-request-user': 'alice',
        'x-auth-request-email': 'alice@example.test',
        'remote-user': 'alice',
        'x-forwarded-email': 'alice@example.test',
      },
    });
    expect(res.status).toBe(401);
  });

  it('logs out: deletes the session row, clears the cookie and offers RP-initiated logout at the IdP', async () => {
    const b = new ScriptedBrowser();
    const { csrf } = await signIn(b, url, 'olga');
    const cookie = b.cookie(url, 'ampora_session')!;
    const noCsrf = await b.request(`${url}/auth/logout`, { method: 'POST' });
    expect(noCsrf.status).toBe(403);
    const res = await b.request(`${url}/auth/logout`, { method: 'POST', headers: { 'x-csrf-token': csrf! } });
    expect(res.status).toBe(200);
    const { redirectTo } = (await res.json()) as { redirectTo: string };
    const end = new URL(redirectTo);
    expect(`${end.origin}${end.pathname}`).toBe(`${env.idp.issuer}/session/end`);
    expect(end.searchParams.get('id_token_hint')).toMatch(/^ey/);
    expect(end.searchParams.get('post_logout_redirect_uri')).toBe(`${url}/`);
    expect(b.cookie(url, 'ampora_session')).toBeUndefined();
    // The old cookie is dead server-side, even when replayed.
    const replay = await fetch(`${url}/api/me`, { headers: { cookie: `ampora_session=${cookie}` } });
    expect(replay.status).toBe(401);
    expect(await auditEvents('auth.logout')).toHaveLength(1);
  });

  it('refuses a session cookie with a forged signature and audits it', async () => {
    const cookie = alice.cookie(url, 'ampora_session')!;
    const tampered = cookie.slice(0, -3) + (cookie.endsWith('AAA') ? 'BBB' : 'AAA');
    const res = await fetch(`${url}/api/me`, { headers: { cookie: `ampora_session=${tampered}` } });
    expect(res.status).toBe(401);
    const failed = await auditEvents('auth.login.failed');
    expect(failed.some((e) => e.after?.method === 'session' && e.after?.reason === 'bad-signature')).toBe(
      true,
    );
  });
});

describe('bearer JWTs from the same issuer', () => {
  const api = (token: string, path = '/api/me') =>
    fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });

  it('accepts an access token for the API audience, with the role from its claims', async () => {
    const token = await cliAccessToken(env.idp, 'olga');
    const res = await api(token);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ kind: 'user', id: 'olga', role: 'operator', via: 'bearer' });
  });

  it('refuses a token for another audience, and audits only an HMAC of it', async () => {
    const token = await cliAccessToken(env.idp, 'olga', OTHER_RESOURCE);
    const res = await api(token);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    const failed = (await auditEvents('auth.login.failed')).filter((e) => e.after?.reason === 'bad-audience');
    expect(failed).toHaveLength(1);
    expect(String(failed[0]!.after!.token)).toMatch(/^hmac:[0-9a-f]{64}$/);
    const { rows } = await sql<{
      n: number;
    }>`select count(*)::int as n from audit_events where after::text like ${'%' + token.slice(-20) + '%'}`.execute(
      env.server.database.owner,
    );
    expect(rows[0]!.n).toBe(0);
    expect(env.server.logs.join('\n')).not.toContain(token);
  });

  it('refuses an expired token and one not yet valid, both signed by the IdP itself', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: 'olga', 'ampora:role': 'operator' };
    const expired = await env.idp.sign(claims, { audience: API_RESOURCE, expiresAt: now - 600 });
    expect((await api(expired)).status).toBe(401);
    const early = await env.idp.sign(claims, {
      audience: API_RESOURCE,
      expiresAt: now + 7200,
      notBefore: now + 3600,
    });
    expect((await api(early)).status).toBe(401);
    const reasons = (await auditEvents('auth.login.failed')).map((e) => e.after?.reason);
    expect(reasons).toEqual(expect.arrayContaining(['expired', 'not-yet-valid']));
  });

  it('refuses a forged token (another key under the IdP kid), alg none and an HMAC-signed token', async () => {
    const exp = Math.floor(Date.now() / 1000) + 300;
    const attacker = await generateKeyPair('RS256');
    const forged = await new SignJWT({ sub: 'mallory', 'ampora:role': 'admin' })
      .setProtectedHeader({ alg: 'RS256', kid: env.idp.currentKid })
      .setIssuer(env.idp.issuer)
      .setAudience(API_RESOURCE)
      .setExpirationTime(exp)
      .sign(attacker.privateKey);
    expect((await api(forged)).status).toBe(401);
    const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'mallory', iss: env.idp.issuer, aud: API_RESOURCE, exp, 'ampora:role': 'admin' })}.`;
    expect((await api(none)).status).toBe(401);
    const hs = await new SignJWT({ sub: 'mallory', 'ampora:role': 'admin' })
      .setProtectedHeader({ alg: 'HS256', kid: env.idp.currentKid })
      .setIssuer(env.idp.issuer)
      .setAudience(API_RESOURCE)
      .setExpirationTime(exp)
      .sign(new TextEncoder().encode(JSON.stringify(await exportJWK(attacker.publicKey))));
    expect((await api(hs)).status).toBe(401);
    const reasons = (await auditEvents('auth.login.failed')).map((e) => e.after?.reason);
    expect(reasons).toEqual(expect.arrayContaining(['bad-signature', 'bad-algorithm']));
  });

  it('tolerates JWKS rotation: tokens under a new key verify, and so do tokens under a still-published old key', async () => {
    const before = await cliAccessToken(env.idp, 'olga');
    const oldKid = env.idp.currentKid;
    const newKid = await env.idp.rotateKeys({ keepOld: true });
    expect(newKid).not.toBe(oldKid);
    const after = await cliAccessToken(env.idp, 'olga');
    const header = JSON.parse(Buffer.from(after.split('.')[0]!, 'base64url').toString()) as { kid: string };
    expect(header.kid).toBe(newKid);
    expect((await api(after)).status).toBe(200);
    expect((await api(before)).status).toBe(200);
  });

  it('refuses a malformed Authorization header and a non-bearer scheme', async () => {
    for (const value of ['Basic YWxpY2U6c2VjcmV0', 'Bearer', 'Bearer a b']) {
      const res = await fetch(`${url}/api/me`, { headers: { authorization: value } });
      expect(res.status).toBe(401);
    }
  });

  it('a bearer caller needs no CSRF header, even with a session cookie present', async () => {
    const token = await cliAccessToken(env.idp, 'olga');
    const res = await fetch(`${url}/api/me`, {
      method: 'GET',
      headers: { authorization: `Bearer ${token}`, cookie: 'ampora_session=garbage' },
    });
    expect(res.status).toBe(200);
    expect((await res.json()).via).toBe('bearer');
  });
});
