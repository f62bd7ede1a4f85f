import { describe, expect, it } from 'vitest';
import { ACTIONS } from './actions.js';
import type { PrincipalKind } from './actions.js';
import { decide } from './decide.js';
import type { Principal } from './decide.js';
import type { Role } from './roles.js';

/**
 * Written by hand from the product's role description, not derived from ACTIONS: each line states
 * which roles may perform the action. A change to the table must change this list too.
 */
const V = ['viewer', 'operator', 'admin'] as const;
const O = ['operator', 'admin'] as const;
const A = ['admin'] as const;
const EXPECTED: Record<string, readonly Role[]> = {
  'agents:read': V,
  'agents:export': V,
  'agents:move': O,
  'agents:tag': O,
  'agents:drain': O,
  'agents:push': O,
  'configurations:read': V,
  'configurations:write': O,
  'configurations:publish': O,
  'configurations:archive': O,
  'groups:read': V,
  'groups:write': O,
  'rollouts:read': V,
  'rollouts:write': O,
  'rollouts:control': O,
  'tokens:read': V,
  'tokens:write': O,
  'token-pools:read': V,
  'token-pools:write': O,
  'pki:read': V,
  'pki:certs:revoke': O,
  'pki:certs:renew': O,
  'pki:keys:write': A,
  'pki:keys:activate': A,
  'pki:keys:approve': A,
  'pki:emergency-rotate': A,
  'kms:read': V,
  'kms:write': A,
  'policies:read': V,
  'policies:write': A,
  'policies:approve': A,
  'lint-rules:read': V,
  'lint-rules:write': A,
  'gitops:read': V,
  'gitops:write': A,
  'approvals:read': A,
  'approvals:decide': A,
  'approvals:cancel': A,
  'tenants:read': V,
  'tenants:write': A,
  'auth:self:read': V,
  'auth:users:read': A,
  'auth:users:write': A,
  'auth:pats:read': A,
  'auth:pats:write': A,
  'auth:role-mappings:read': A,
  'auth:role-mappings:write': A,
  'audit:read': V,
  'audit:verify': A,
  'audit:archive:read': A,
  'audit:archive:write': A,
  'federation:peers:read': V,
  'federation:peers:write': A,
  'federation:peers:approve': A,
};
/** Actions only a federation peer may perform (any role). */
const PEER_ONLY = new Set(['federation:api:read']);
/** Actions on what every tenant shares: only the installation's own tenant may take them. */
const INSTALLATION = new Set([
  'pki:keys:write',
  'pki:keys:activate',
  'pki:keys:approve',
  'pki:emergency-rotate',
  'kms:write',
  'tenants:write',
]);

const TENANT = '0190f5a4-0000-7000-8000-000000000001';
const OTHER_TENANT = '0190f5a4-0000-7000-8000-000000000002';
const ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];
const KINDS: readonly PrincipalKind[] = ['user', 'pat', 'agent', 'peer', 'system'];

function principal(kind: PrincipalKind, role: Role, extra: Partial<Principal> = {}): Principal {
  return { kind, id: `${kind}-1`, name: `${kind} one`, tenantId: TENANT, role, ...extra };
}

describe('decide: the action × role × principal matrix', () => {
  it('covers exactly the actions in the table', () => {
    expect(Object.keys(ACTIONS).sort()).toEqual([...Object.keys(EXPECTED), ...PEER_ONLY].sort());
  });

  for (const action of Object.keys(EXPECTED)) {
    for (const kind of KINDS) {
      for (const role of ROLES) {
        const operatorKind = kind === 'user' || kind === 'pat' || kind === 'system';
        const allowed = operatorKind && EXPECTED[action]!.includes(role);
        it(`${action} by ${role} ${kind} → ${allowed ? 'allow' : 'deny'}`, () => {
          const decision = decide(principal(kind, role), action, {
            tenantId: TENANT,
            installationTenantId: TENANT,
          });
          if (allowed) {
            expect(decision).toEqual({ allowed: true });
          } else {
            expect(decision).toEqual({ allowed: false, reason: operatorKind ? 'role' : 'principal' });
          }
        });
      }
    }
  }

  for (const action of PEER_ONLY) {
    for (const kind of KINDS) {
      for (const role of ROLES) {
        it(`${action} by ${role} ${kind} → ${kind === 'peer' ? 'allow' : 'deny'}`, () => {
          const decision = decide(principal(kind, role), action, { tenantId: TENANT });
          expect(decision).toEqual(
            kind === 'peer' ? { allowed: true } : { allowed: false, reason: 'principal' },
          );
        });
      }
    }
  }
});

describe('decide: installation-scoped actions', () => {
  it('are exactly the listed ones, and deny an Admin of any other tenant with reason installation', () => {
    for (const action of Object.keys(EXPECTED)) {
      const elsewhere = decide(principal('user', 'admin'), action, {
        tenantId: TENANT,
        installationTenantId: OTHER_TENANT,
      });
      expect(elsewhere).toEqual(
        INSTALLATION.has(action) ? { allowed: false, reason: 'installation' } : { allowed: true },
      );
    }
  });

  it('are denied when the caller does not say which tenant is the installation’s (fail closed)', () => {
    for (const action of INSTALLATION) {
      expect(decide(principal('user', 'admin'), action, { tenantId: TENANT })).toEqual({
        allowed: false,
        reason: 'installation',
      });
    }
  });

  it('still need the role: a Viewer of the installation tenant is denied with reason role', () => {
    expect(decide(principal('user', 'viewer'), 'pki:keys:write', { installationTenantId: TENANT })).toEqual({
      allowed: false,
      reason: 'role',
    });
  });
});

describe('decide: tenancy and unknown actions', () => {
  it('denies a resource in another tenant with reason tenant, even for an admin', () => {
    expect(decide(principal('user', 'admin'), 'agents:read', { tenantId: OTHER_TENANT })).toEqual({
      allowed: false,
      reason: 'tenant',
    });
  });

  it('reports tenant before role, so a cross-tenant id is never revealed by a role error', () => {
    expect(decide(principal('user', 'viewer'), 'pki:keys:write', { tenantId: OTHER_TENANT })).toEqual({
      allowed: false,
      reason: 'tenant',
    });
  });

  it('allows a resource in the same tenant and an action without a resource', () => {
    expect(decide(principal('user', 'operator'), 'agents:move', { tenantId: TENANT }).allowed).toBe(true);
    expect(decide(principal('user', 'operator'), 'agents:move').allowed).toBe(true);
  });

  it('denies unknown actions by default, whatever the role', () => {
    for (const action of ['agents:delete', '', 'AGENTS:READ', 'toString', '__proto__', 'constructor']) {
      expect(decide(principal('system', 'admin'), action)).toEqual({
        allowed: false,
        reason: 'unknown-action',
      });
    }
  });
});

describe('decide: PAT endpoint limits', () => {
  const limited = principal('pat', 'operator', {
    allowedEndpoints: ['GET /api/agents*', 'post /api/rollouts/*/pause'],
  });

  it('allows a request that matches a pattern', () => {
    const get = { tenantId: TENANT, request: { method: 'GET', path: '/api/agents/0190f5a4' } };
    expect(decide(limited, 'agents:read', get)).toEqual({ allowed: true });
    const pause = { tenantId: TENANT, request: { method: 'POST', path: '/api/rollouts/r1/pause?x=1' } };
    expect(decide(limited, 'rollouts:control', pause)).toEqual({ allowed: true });
  });

  it('denies a request outside the patterns with reason endpoint', () => {
    const move = { tenantId: TENANT, request: { method: 'POST', path: '/api/agents/move' } };
    expect(decide(limited, 'agents:move', move)).toEqual({ allowed: false, reason: 'endpoint' });
    const resume = { tenantId: TENANT, request: { method: 'POST', path: '/api/rollouts/r1/resume' } };
    expect(decide(limited, 'rollouts:control', resume)).toEqual({ allowed: false, reason: 'endpoint' });
  });

  it('denies a limited PAT when no request is given, since the limit cannot be checked', () => {
    expect(decide(limited, 'agents:read', { tenantId: TENANT })).toEqual({
      allowed: false,
      reason: 'endpoint',
    });
  });

  it('lets an empty list allow nothing, and a missing list allow everything the role allows', () => {
    const none = principal('pat', 'admin', { allowedEndpoints: [] });
    const request = { method: 'GET', path: '/api/agents' };
    expect(decide(none, 'agents:read', { request })).toEqual({ allowed: false, reason: 'endpoint' });
    expect(decide(principal('pat', 'admin'), 'agents:read', { request })).toEqual({ allowed: true });
  });

  it('checks the role before the endpoint, so a pattern never widens a role', () => {
    const viewer = principal('pat', 'viewer', { allowedEndpoints: ['* /*'] });
    const request = { method: 'POST', path: '/api/agents/move' };
    expect(decide(viewer, 'agents:move', { request })).toEqual({ allowed: false, reason: 'role' });
  });
});
