import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import type { JWK, JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JwtVerificationError, createJwtVerifier, rolesFromClaims, tenantFromClaims } from './oidc.js';
import type { JwtProblem, JwtVerifier } from './oidc.js';

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;
interface SigningKey {
  kid: string;
  pair: KeyPair;
  jwk: JWK;
}

const ISSUER = 'https://idp.example.test';
const AUDIENCE = 'ampora';

async function newKey(kid: string): Promise<SigningKey> {
  const pair = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(pair.publicKey)), kid, alg: 'ES256', use: 'sig' };
  return { kid, pair, jwk };
}

function sign(
  key: SigningKey,
  claims: JWTPayload = {},
  opts: { exp?: number | string; nbf?: number | string } = {},
) {
  const jwt = new SignJWT({ sub: 'user-1', ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? '5m');
  if (opts.nbf !== undefined) jwt.setNotBefore(opts.nbf);
  return jwt.sign(key.pair.privateKey);
}

async function problemOf(promise: Promise<unknown>): Promise<JwtProblem | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(JwtVerificationError);
    return (error as JwtVerificationError).problem;
  }
}

/** A tiny JWKS endpoint whose key set the test can swap, counting fetches. */
let published: JWK[] = [];
let fetches = 0;
let server: Server;
let jwksUri: string;
let current: SigningKey;

beforeAll(async () => {
  current = await newKey('k1');
  published = [current.jwk];
  server = createServer((req, res) => {
    if (req.url !== '/jwks') {
      res.writeHead(404).end();
      return;
    }
    fetches++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: published }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  jwksUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

function verifier(extra: { jwksCooldownMs?: number; clockToleranceSec?: number } = {}): JwtVerifier {
  return createJwtVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUri, clockToleranceSec: 0, ...extra });
}

describe('createJwtVerifier', () => {
  it('accepts a good token and returns its claims', async () => {
    const { claims, header } = await verifier()(await sign(current, { tenant: 't1' }));
    expect(claims).toMatchObject({ sub: 'user-1', iss: ISSUER, aud: AUDIENCE, tenant: 't1' });
    expect(header.kid).toBe('k1');
  });

  it('rejects the wrong audience and the wrong issuer', async () => {
    const wrongAud = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience('someone-else')
      .setExpirationTime('5m')
      .sign(current.pair.privateKey);
    expect(await problemOf(verifier()(wrongAud))).toBe('bad-audience');
    const wrongIss = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('https://evil.example.test')
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .sign(current.pair.privateKey);
    expect(await problemOf(verifier()(wrongIss))).toBe('bad-issuer');
  });

  it('rejects an expired token, a token not yet valid, and a token without exp', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(await problemOf(verifier()(await sign(current, {}, { exp: now - 120 })))).toBe('expired');
    expect(await problemOf(verifier()(await sign(current, {}, { nbf: now + 600 })))).toBe('not-yet-valid');
    const noExp = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .sign(current.pair.privateKey);
    expect(await problemOf(verifier()(noExp))).toBe('missing-claim');
  });

  it('applies the clock tolerance and the injected clock', async () => {
    const now = Math.floor(Date.now() / 1000);
    const justExpired = await sign(current, {}, { exp: now - 10 });
    expect(await problemOf(verifier({ clockToleranceSec: 60 })(justExpired))).toBeUndefined();
    const future = await sign(current, {}, { nbf: now + 3600, exp: now + 7200 });
    const later = createJwtVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      jwksUri,
      clockToleranceSec: 0,
      clock: { now: () => new Date((now + 3700) * 1000) },
    });
    expect((await later(future)).claims.sub).toBe('user-1');
  });

  it('rejects a token signed by another key under a known kid (forgery)', async () => {
    const attacker = await newKey('k1');
    expect(await problemOf(verifier()(await sign(attacker)))).toBe('bad-signature');
  });

  it('rejects alg none and a symmetric HS256 token', async () => {
    const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const exp = Math.floor(Date.now() / 1000) + 300;
    const unsigned = `${b64({ alg: 'none', kid: 'k1' })}.${b64({ iss: ISSUER, aud: AUDIENCE, exp, sub: 'x' })}.`;
    expect(await problemOf(verifier()(unsigned))).toBe('bad-algorithm');
    const hs = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('a-shared-secret-anyone-could-know!!'));
    expect(await problemOf(verifier()(hs))).toBe('bad-algorithm');
  });

  it('rejects garbage as malformed', async () => {
    expect(await problemOf(verifier()('not-a-jwt'))).toBe('malformed');
    expect(await problemOf(verifier()('a.b.c'))).toBe('malformed');
  });

  it('picks up a rotated key: an unknown kid makes it refetch the JWKS', async () => {
    const verify = verifier({ jwksCooldownMs: 0 });
    await verify(await sign(current));
    const before = fetches;
    const rotated = await newKey('k2');
    published = [rotated.jwk];
    const { header } = await verify(await sign(rotated));
    expect(header.kid).toBe('k2');
    expect(fetches).toBe(before + 1);
    // The old key left the set, so its tokens no longer verify.
    expect(await problemOf(verify(await sign(current)))).toBe('unknown-key');
    current = rotated;
  });

  it('does not refetch on unknown kids during the cooldown', async () => {
    const verify = verifier({ jwksCooldownMs: 60_000 });
    await verify(await sign(current));
    const before = fetches;
    const stranger = await newKey('k-unknown');
    expect(await problemOf(verify(await sign(stranger)))).toBe('unknown-key');
    expect(fetches).toBe(before);
  });

  it('verifies against a fixed key set and reports an unreachable JWKS', async () => {
    const fixed = createJwtVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: { keys: [current.jwk] } });
    expect((await fixed(await sign(current))).claims.iss).toBe(ISSUER);
    const unreachable = createJwtVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      jwksUri: `${jwksUri}-missing`,
    });
    expect(await problemOf(unreachable(await sign(current)))).toBe('jwks-unavailable');
    expect(() => createJwtVerifier({ issuer: ISSUER, audience: AUDIENCE })).toThrow(TypeError);
  });
});

describe('rolesFromClaims', () => {
  it('reads a role string or list, case-insensitively, highest wins', () => {
    expect(rolesFromClaims({ 'ampora:role': 'Operator' })).toBe('operator');
    expect(rolesFromClaims({ 'ampora:role': ['viewer', 'ADMIN', 'bogus'] })).toBe('admin');
    expect(rolesFromClaims({ roles: ['operator'] }, { roleClaim: 'roles' })).toBe('operator');
  });

  it('grants nothing for missing, unknown or mistyped role claims', () => {
    expect(rolesFromClaims({})).toBeUndefined();
    expect(rolesFromClaims({ 'ampora:role': 'superuser' })).toBeUndefined();
    expect(rolesFromClaims({ 'ampora:role': { admin: true } })).toBeUndefined();
    expect(rolesFromClaims({ 'ampora:role': [1, null] })).toBeUndefined();
  });

  it('maps groups to roles when the tenant has a mapping, ignoring the role claim', () => {
    const mappings = [
      { group: 'acme-eu-admins', role: 'admin' as const },
      { group: 'acme-eu-ops', role: 'operator' as const },
      { group: 'acme-eu-all', role: 'viewer' as const },
    ];
    expect(rolesFromClaims({ groups: ['acme-eu-all', 'acme-eu-ops'] }, { mappings })).toBe('operator');
    expect(rolesFromClaims({ groups: 'acme-eu-admins' }, { mappings })).toBe('admin');
    expect(rolesFromClaims({ groups: ['ACME-EU-ADMINS'] }, { mappings })).toBeUndefined();
    expect(rolesFromClaims({ 'ampora:role': 'admin', groups: ['acme-eu-all'] }, { mappings })).toBe('viewer');
    expect(rolesFromClaims({ teams: ['acme-eu-ops'] }, { mappings, groupsClaim: 'teams' })).toBe('operator');
  });
});

describe('tenantFromClaims', () => {
  it('reads the tenant claim and refuses empty or non-string values', () => {
    expect(tenantFromClaims({ tenant: 'acme' })).toBe('acme');
    expect(tenantFromClaims({ org: 'acme' }, { tenantClaim: 'org' })).toBe('acme');
    expect(tenantFromClaims({ tenant: '' })).toBeUndefined();
    expect(tenantFromClaims({ tenant: ['acme'] })).toBeUndefined();
    expect(tenantFromClaims({})).toBeUndefined();
  });
});
