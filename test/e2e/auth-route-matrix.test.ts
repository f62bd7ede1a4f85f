import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock, uuidv7Ids } from '@ampora/db';
import { createKeyProtector, parseMasterKey } from '@ampora/keys';
import { build, type App } from '../../apps/server/src/app.js';
import { loadConfig } from '../../apps/server/src/config/index.js';
import { createAuditRecorder } from '../../apps/server/src/modules/audit/audit-recorder.js';
import { createLogger } from '../../apps/server/src/observability/logger.js';
import { createMetricsRegistry } from '../../apps/server/src/observability/metrics.js';
import type { ServerContext } from '../../apps/server/src/runtime/context.js';
import { createGatewayCore } from '../../apps/server/src/runtime/gateway.js';
import { createModules } from '../../apps/server/src/runtime/modules.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { TestIdp } from '../support/oidc-provider.js';

/**
 * The whole route table × every role. The expectation below is written by hand from the product's
 * role description (Viewer browses; Operator authors, rolls out, manages tokens and moves agents;
 * Admin handles PKI keys and their approvals, KMS, tenants, identity, policies and the audit
 * archive), not derived from the server's own tables. A registered route missing here, or an entry
 * here that is not registered, fails the test: every new route must take a position in this table.
 */
/**
 * `own-credential`: declared anonymous to the access layer because the route checks a credential
 * of its own (a token pool's admin secret); no operator role may stand in for it.
 */
type Rule = 'anonymous' | 'own-credential' | 'viewer' | 'operator' | 'admin';
const EXPECTED: Record<string, Rule> = {
  // Probes and the public surface
  'GET /healthz': 'anonymous',
  'GET /readyz': 'anonymous',
  'GET /metrics': 'anonymous',
  'GET /api/openapi.json': 'anonymous',
  // Sign-in
  'GET /auth/login': 'anonymous',
  'GET /auth/callback': 'anonymous',
  'POST /auth/logout': 'anonymous',
  'GET /api/me': 'viewer',
  // Identity administration
  'GET /api/auth/users': 'admin',
  'PUT /api/auth/users/:id/role': 'admin',
  'DELETE /api/auth/users/:id': 'admin',
  'GET /api/auth/role-mappings': 'admin',
  'PUT /api/auth/role-mappings': 'admin',
  'GET /api/auth/tokens': 'admin',
  'POST /api/auth/tokens': 'admin',
  'DELETE /api/auth/tokens/:id': 'admin',
  // Fleet
  'GET /api/agents': 'viewer',
  'GET /api/agents/:id': 'viewer',
  // Audit: the hot trail is browsable; verifying the chain is an Admin's job
  'GET /api/audit/events': 'viewer',
  'GET /api/audit/verify': 'admin',
  // PKI: public CRL, OCSP and trust bundle; keys are Admin; revoking agent certificates is Operator
  'GET /pki/crl.der': 'anonymous',
  'GET /pki/crl.pem': 'anonymous',
  'GET /pki/crl/:file': 'anonymous',
  'POST /pki/ocsp': 'anonymous',
  'GET /pki/ocsp/*': 'anonymous',
  'GET /pki/trust-bundle.pem': 'anonymous',
  'GET /api/pki/signing-keys': 'viewer',
  'POST /api/pki/signing-keys/rotate': 'admin',
  'POST /api/pki/signing-keys/import': 'admin',
  'POST /api/pki/signing-keys/:id/activate': 'admin',
  'POST /api/pki/signing-keys/:id/retire': 'admin',
  'GET /api/pki/certificates': 'viewer',
  'POST /api/pki/certificates/:id/revoke': 'operator',
  'POST /api/pki/certificates/revoke': 'operator',
  // Approvals (four eyes): the queue and its decisions are Admin, like the changes they hold
  'GET /api/approvals': 'admin',
  'GET /api/approvals/:id': 'admin',
  'POST /api/approvals/:id/approve': 'admin',
  'POST /api/approvals/:id/reject': 'admin',
  'POST /api/approvals/:id/cancel': 'admin',
  // Enrollment: Operators issue and revoke bootstrap tokens and token pools; Viewers list them
  'GET /api/enrollment/tokens': 'viewer',
  'POST /api/enrollment/tokens': 'operator',
  'DELETE /api/enrollment/tokens/:id': 'operator',
  'GET /api/enrollment/pools': 'viewer',
  'POST /api/enrollment/pools': 'operator',
  'DELETE /api/enrollment/pools/:id': 'operator',
  'POST /api/enrollment/pools/:id/rotate-secret': 'operator',
  'POST /api/enrollment/pools/:id/tokens': 'own-credential',
};
/** Third-party routes under a prefix, anonymous by declaration (the API reference page). */
const ANONYMOUS_PREFIXES = ['/api/docs'];

const ROLES = ['viewer', 'operator', 'admin'] as const;
const RANK: Record<Rule, number> = { anonymous: -1, 'own-credential': -1, viewer: 0, operator: 1, admin: 2 };

let t: TestDatabase;
let idp: TestIdp;
let app: App;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  t = await createTestDatabase();
  idp = await TestIdp.start();
  const config = loadConfig({
    AMPORA_AUTH_OIDC_ISSUER: idp.issuer,
    AMPORA_AUTH_OIDC_CLIENT_ID: idp.clients.post.clientId,
    AMPORA_AUTH_OIDC_CLIENT_SECRET: idp.clients.post.clientSecret,
    AMPORA_AUTH_OIDC_ALLOW_INSECURE_ISSUER: 'true',
    AMPORA_HTTP_PUBLIC_URL: 'http://127.0.0.1:8080/',
    AMPORA_HTTP_RATE_LIMIT_IP_PER_MINUTE: '0',
    AMPORA_HTTP_RATE_LIMIT_PRINCIPAL_PER_MINUTE: '0',
  });
  const logger = createLogger('silent');
  const keys = createKeyProtector({ master: parseMasterKey(randomBytes(32).toString('base64')) });
  const metrics = createMetricsRegistry();
  const core = createGatewayCore({
    config,
    db: t.db,
    clock: systemClock,
    ids: uuidv7Ids,
    logger,
    metrics,
    opampPort: () => 4320,
    tls: () => false,
  });
  const ctx: ServerContext = {
    config,
    logger,
    db: t.db,
    ownerUrl: t.ownerUrl,
    clock: systemClock,
    ids: uuidv7Ids,
    metrics,
    keys,
    audit: createAuditRecorder({
      clock: systemClock,
      ids: uuidv7Ids,
      hmac: (d) => keys.hmac('audit-secret', d).toString('hex'),
    }),
    hub: core.hub,
    opampPort: () => 4320,
    httpPort: () => 8080,
  };
  const modules = createModules(ctx);
  const accessControl = modules.find((m) => m.accessControl)?.accessControl;
  expect(accessControl).toBeDefined();
  app = await build({
    config,
    db: t.db,
    logger,
    metrics,
    clock: systemClock,
    ids: uuidv7Ids,
    isReady: async () => true,
    modules: modules.flatMap((m) => (m.routes ? [m.routes] : [])),
    access: () => accessControl!,
  });
  await app.ready();
  const exp = Math.floor(Date.now() / 1000) + 3600;
  for (const role of ROLES) {
    tokens[role] = await idp.sign(
      { sub: `matrix-${role}`, name: `Matrix ${role}`, 'ampora:role': role },
      { audience: idp.clients.post.clientId, expiresAt: exp },
    );
  }
}, 90_000);

afterAll(async () => {
  await app?.close();
  await idp?.close();
  await t?.close();
});

const concrete = (url: string) => url.replace(/:[A-Za-z]+/g, () => uuidv7Ids.uuid()).replace(/\*$/, 'AAAA');

/** Refused by the access layer (as opposed to the handler saying no to a particular request). */
function refused(res: { statusCode: number; json: () => { type?: string } }) {
  if (res.statusCode !== 401 && res.statusCode !== 403) return false;
  const type = (res.json().type ?? '').replace(/^.*\//, '');
  return type === 'unauthorized' || type === 'forbidden';
}

describe('route × role matrix', () => {
  it('every registered route is in the expectation table, and every entry is registered', () => {
    const registered = app
      .routeAccessList()
      .filter((r) => !ANONYMOUS_PREFIXES.some((p) => r.url.startsWith(p)))
      .map((r) => `${r.method} ${r.url}`);
    expect([...new Set(registered)].sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it('routes under an anonymous prefix are declared anonymous (the API reference)', async () => {
    const docs = app.routeAccessList().filter((r) => ANONYMOUS_PREFIXES.some((p) => r.url.startsWith(p)));
    expect(docs.length).toBeGreaterThan(0);
    for (const r of docs) expect(r.access).toMatchObject({ anonymous: true });
    const page = await app.inject({ method: 'GET', url: '/api/docs' });
    expect(refused(page)).toBe(false);
  });

  it('declared access rules match the expectation (anonymous exactly where listed)', () => {
    for (const r of app.routeAccessList()) {
      const key = `${r.method} ${r.url}`;
      if (!(key in EXPECTED)) continue;
      expect({ key, anonymous: 'anonymous' in r.access }).toEqual({
        key,
        anonymous: EXPECTED[key] === 'anonymous' || EXPECTED[key] === 'own-credential',
      });
    }
  });

  for (const [key, rule] of Object.entries(EXPECTED)) {
    const [method, url] = key.split(' ') as [string, string];
    for (const caller of ['anonymous', ...ROLES] as const) {
      const own = rule === 'own-credential';
      const allowed = rule === 'anonymous' || (!own && caller !== 'anonymous' && RANK[caller] >= RANK[rule]);
      const outcome = own
        ? 'refused without its own credential'
        : allowed
          ? 'allowed'
          : caller === 'anonymous'
            ? '401'
            : '403';
      it(`${key} as ${caller} → ${outcome}`, async () => {
        const headers: Record<string, string> = {};
        if (caller !== 'anonymous') headers.authorization = `Bearer ${tokens[caller]}`;
        const mutating = method !== 'GET' && method !== 'DELETE';
        const res = await app.inject({
          method: method as 'GET',
          url: concrete(url),
          headers: mutating ? { ...headers, 'content-type': 'application/json' } : headers,
          ...(mutating ? { payload: '{}' } : {}),
        });
        if (own) {
          expect([401, 403]).toContain(res.statusCode);
        } else if (allowed) {
          expect(refused(res), `${res.statusCode} ${res.body}`).toBe(false);
        } else {
          expect(res.statusCode).toBe(caller === 'anonymous' ? 401 : 403);
          expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        }
      });
    }
  }
});
