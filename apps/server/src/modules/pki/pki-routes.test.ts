import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide, isKnownAction } from '@ampora/authz';
import { uuidv7Ids } from '@ampora/db';
import { createTestDatabase, type TestDatabase } from '../../../../../test/support/database.js';
import { build, type App } from '../../app.js';
import { loadConfig } from '../../config/index.js';
import type { Role } from '../../http/principal.js';
import { problems } from '../../http/problem.js';
import type { AccessControl } from '../../http/route-access.js';
import { createLogger } from '../../observability/logger.js';
import { pkiPublicRoutes } from './pki-public-routes.js';
import { pkiRoutes } from './pki-routes.js';
import { testPki } from './pki-test-support.js';

let t: TestDatabase;
let app: App;
const declared: Array<{ method: string; url: string; access: unknown }> = [];

/** A caller picks a role by header; without one, authentication fails as it would for a stranger. */
const headerAccess: AccessControl = {
  authenticate: async (request) => {
    const role = request.headers['x-role'] as Role | undefined;
    if (!role) throw problems.unauthorized();
    request.principal = { kind: 'user', id: `sub-${role}`, name: role, tenantId: t.defaultTenantId, role };
  },
  authorize: async (request, action) => {
    if (!decide(request.principal!, action, { installationTenantId: t.defaultTenantId }).allowed)
      throw problems.forbidden();
  },
};

beforeAll(async () => {
  t = await createTestDatabase();
  const { pki, approvals, clock } = testPki({ db: t.db });
  await pki.ready();
  app = await build({
    config: loadConfig({}),
    db: t.db,
    logger: createLogger('silent'),
    metrics: new Registry(),
    clock,
    ids: uuidv7Ids,
    isReady: async () => true,
    modules: [
      async (a) => {
        a.addHook('onRoute', (r) => {
          declared.push({ method: String(r.method), url: r.url, access: r.config?.access });
        });
        await a.register(pkiPublicRoutes(pki));
        await a.register(pkiRoutes(pki, approvals));
      },
    ],
    access: () => headerAccess,
  });
});
afterAll(async () => {
  await app?.close();
  await t?.close();
});

const call = (method: 'GET' | 'POST', url: string, role?: Role, payload?: unknown) =>
  app.inject({
    method,
    url,
    headers: {
      ...(role ? { 'x-role': role } : {}),
      ...(payload ? { 'content-type': 'application/json' } : {}),
    },
    ...(payload ? { payload: JSON.stringify(payload) } : {}),
  });

describe('PKI route rules', () => {
  it('every admin route names an action from the authorization table; only /pki/* is anonymous', () => {
    expect(declared.length).toBeGreaterThan(10);
    for (const route of declared) {
      const access = route.access as { action?: string; anonymous?: boolean } | undefined;
      if (route.method === 'HEAD') continue;
      if (route.url.startsWith('/pki/')) {
        expect(access).toMatchObject({ anonymous: true });
      } else {
        expect(isKnownAction(access?.action ?? '')).toBe(true);
      }
    }
  });

  it('serves the public endpoints without credentials', async () => {
    for (const url of ['/pki/trust-bundle.pem', '/pki/crl.der', '/pki/crl.pem']) {
      expect((await call('GET', url)).statusCode).toBe(200);
    }
    expect((await call('GET', '/pki/crl/not-a-key.der')).statusCode).toBe(404);
    expect((await call('GET', '/pki/crl/01900000-0000-7000-8000-000000000000.der')).statusCode).toBe(404);
  });

  it('needs credentials for the admin API', async () => {
    expect((await call('GET', '/api/pki/signing-keys')).statusCode).toBe(401);
    expect((await call('POST', '/api/pki/signing-keys/rotate', undefined, {})).statusCode).toBe(401);
  });

  it('lets a Viewer read, an Operator revoke, and only an Admin manage signing keys', async () => {
    expect((await call('GET', '/api/pki/signing-keys', 'viewer')).statusCode).toBe(200);
    expect((await call('GET', '/api/pki/certificates', 'viewer')).statusCode).toBe(200);
    const unknownCert = '/api/pki/certificates/01900000-0000-7000-8000-000000000000/revoke';
    expect((await call('POST', unknownCert, 'viewer', {})).statusCode).toBe(403);
    expect((await call('POST', unknownCert, 'operator', {})).statusCode).toBe(404);
    expect((await call('POST', '/api/pki/signing-keys/rotate', 'operator', {})).statusCode).toBe(403);
    const rotated = await call('POST', '/api/pki/signing-keys/rotate', 'admin', {
      keyAlgorithm: 'ecdsa-p256',
    });
    expect(rotated.statusCode).toBe(202);
    expect(rotated.json()).toMatchObject({
      key: { state: 'draft' },
      approval: { status: 'pending', kind: 'pki.signing-key.activate' },
    });
    expect(rotated.json().approval.entity.id).toBe(rotated.json().key.id);
  });

  it('validates bodies and answers problem+json', async () => {
    const bad = await call('POST', '/api/pki/certificates/revoke', 'admin', { ids: [], reason: 'because' });
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toContain('application/problem+json');
    const badReason = await call('POST', '/api/pki/certificates/revoke', 'admin', {
      ids: ['01900000-0000-7000-8000-000000000000'],
      reason: 'removeFromCRL',
    });
    expect(badReason.statusCode).toBe(400);
    const badImport = await call('POST', '/api/pki/signing-keys/import', 'admin', {
      certPem: 'not a certificate',
      keyPem: 'not a key',
    });
    expect(badImport.statusCode).toBe(400);
    expect(badImport.body).not.toContain('not a key');
  });
});
