import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliAccessToken, startServerWithIdp, type AuthServer } from '../support/oidc-provider.js';

let env: AuthServer;
let url: string;

beforeAll(async () => {
  env = await startServerWithIdp({
    env: {
      AMPORA_HTTP_RATE_LIMIT_IP_PER_MINUTE: '30',
      AMPORA_HTTP_RATE_LIMIT_PRINCIPAL_PER_MINUTE: '5',
      AMPORA_HTTP_TRUSTED_PROXIES: '127.0.0.1',
      AMPORA_HTTP_CORS_ORIGINS: 'https://ui.example.test',
      AMPORA_HTTP_BODY_LIMIT_BYTES: '2048',
    },
  });
  url = env.server.httpUrl;
  env.idp.setAccount('rita', { name: 'Rita', 'ampora:role': 'admin' });
  env.idp.setAccount('rex', { name: 'Rex', 'ampora:role': 'admin' });
}, 90_000);
afterAll(async () => {
  await env?.close();
});

/** Each call comes from its own client address (through the trusted proxy), so only the bucket under test fills. */
let client = 0;
const from = () => ({ 'x-forwarded-for': `203.0.113.${++client}` });

describe('security headers', () => {
  it('sends a strict CSP, no framing, no sniffing, no referrer, and no HSTS over plain http', async () => {
    const res = await fetch(`${url}/api/me`, { headers: from() });
    expect(res.status).toBe(401);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('strict-transport-security')).toBeNull();
  });

  it('sends HSTS when a trusted proxy says the request came over https', async () => {
    const res = await fetch(`${url}/healthz`, { headers: { ...from(), 'x-forwarded-proto': 'https' } });
    expect(res.headers.get('strict-transport-security')).toMatch(/^max-age=\d+/);
  });
});

describe('CORS', () => {
  it('answers a preflight only for a listed origin, and never allows credentials', async () => {
    const ok = await fetch(`${url}/api/agents`, {
      method: 'OPTIONS',
      headers: { ...from(), origin: 'https://ui.example.test', 'access-control-request-method': 'GET' },
    });
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://ui.example.test');
    expect(ok.headers.get('access-control-allow-credentials')).toBeNull();
    const other = await fetch(`${url}/api/agents`, {
      method: 'OPTIONS',
      headers: { ...from(), origin: 'https://evil.example', 'access-control-request-method': 'GET' },
    });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('rate limits (token buckets)', () => {
  it('answers 429 problem+json with Retry-After once a principal empties its bucket', async () => {
    const token = await cliAccessToken(env.idp, 'rita');
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < 8; i++) {
      const res = await fetch(`${url}/api/me`, { headers: { ...from(), authorization: `Bearer ${token}` } });
      statuses.push(res.status);
      if (res.status === 429) limited ??= res;
    }
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(limited).toBeDefined();
    expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(limited!.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await limited!.json()).toMatchObject({ status: 429, title: 'Too many requests' });
  });

  it('limits one client address across anonymous requests, but never the probes', async () => {
    const ip = { 'x-forwarded-for': '198.51.100.7' };
    const statuses: number[] = [];
    for (let i = 0; i < 35; i++)
      statuses.push((await fetch(`${url}/api/openapi.json`, { headers: ip })).status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(30);
    expect(statuses.at(-1)).toBe(429);
    for (let i = 0; i < 5; i++) expect((await fetch(`${url}/healthz`, { headers: ip })).status).toBe(200);
  });
});

describe('errors', () => {
  it('are problem+json without stack, SQL or host names', async () => {
    const token = await cliAccessToken(env.idp, 'rex');
    const cases = [
      await fetch(`${url}/no/such/route`, { headers: from() }),
      await fetch(`${url}/api/auth/users/not-a-uuid/role`, {
        method: 'PUT',
        headers: { ...from(), authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: '{"role":"admin"}',
      }),
      await fetch(`${url}/api/auth/role-mappings`, {
        method: 'PUT',
        headers: { ...from(), authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: '{"mappings": [',
      }),
      await fetch(`${url}/api/auth/role-mappings`, {
        method: 'PUT',
        headers: { ...from(), authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ mappings: [{ group: 'x'.repeat(3000), role: 'admin' }] }),
      }),
    ];
    expect(cases.map((r) => r.status)).toEqual([404, 400, 400, 413]);
    for (const res of cases) {
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const text = await res.text();
      expect(text).not.toMatch(/ at |\.ts:|select |insert |postgres|127\.0\.0\.1|localhost/i);
    }
  });
});

describe('OpenAPI', () => {
  it("serves an OpenAPI 3.1 document anonymously, with each operation's access rule", async () => {
    const res = await fetch(`${url}/api/openapi.json`, { headers: from() });
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, any>> };
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.paths['/api/auth/tokens']!.post['x-ampora-access']).toBe('auth:pats:write');
    expect(doc.paths['/auth/login']!.get.security).toEqual([]);
    expect(doc.paths['/api/agents/{id}']!.get.parameters[0].schema.format).toBe('uuid');
  });

  it('serves the browsable reference page anonymously', async () => {
    const res = await fetch(`${url}/api/docs`, { headers: from(), redirect: 'follow' });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('swagger-ui');
  });
});
