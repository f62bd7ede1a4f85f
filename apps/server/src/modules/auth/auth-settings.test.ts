import { describe, expect, it } from 'vitest';
import { checkSafety, loadConfig } from '../../config/index.js';
import { safeReturnTo } from './auth-routes.js';
import { resolveAuthSettings } from './auth-settings.js';

const OIDC = {
  AMPORA_AUTH_OIDC_ISSUER: 'https://idp.example.test/realms/ops',
  AMPORA_AUTH_OIDC_CLIENT_ID: 'ampora',
  AMPORA_AUTH_OIDC_CLIENT_SECRET: 's3cret',
};

describe('auth settings', () => {
  it('are off without an issuer, and default the audience, claims and redirect URL', () => {
    expect(resolveAuthSettings(loadConfig({}), () => 8080)).toBeUndefined();
    const s = resolveAuthSettings(loadConfig(OIDC), () => 9123)!;
    expect(s).toMatchObject({
      audience: 'ampora',
      clientAuthMethod: 'client_secret_post',
      roleClaim: 'ampora:role',
      groupsClaim: 'groups',
      tenantClaim: 'tenant',
      idleTimeoutMs: 30 * 60_000,
      absoluteTimeoutMs: 12 * 3_600_000,
    });
    expect(s.redirectUrl()).toBe('http://127.0.0.1:9123/auth/callback');
    const pub = resolveAuthSettings(
      loadConfig({ ...OIDC, AMPORA_HTTP_PUBLIC_URL: 'https://ampora.example.test/base' }),
      () => 1,
    )!;
    expect(pub.redirectUrl()).toBe('https://ampora.example.test/base/auth/callback');
  });

  it('production refuses to start without an issuer, with an http issuer, or without a public URL', () => {
    const none = checkSafety(loadConfig({ AMPORA_MODE: 'production' }));
    expect(none.refusals.join('\n')).toMatch(/AMPORA_AUTH_OIDC_ISSUER is required/);
    const insecure = checkSafety(
      loadConfig({
        ...OIDC,
        AMPORA_MODE: 'production',
        AMPORA_AUTH_OIDC_ISSUER: 'http://idp.example.test',
        AMPORA_AUTH_OIDC_ALLOW_INSECURE_ISSUER: 'true',
      }),
    );
    expect(insecure.refusals.join('\n')).toMatch(/AMPORA_AUTH_OIDC_ALLOW_INSECURE_ISSUER/);
    expect(insecure.refusals.join('\n')).toMatch(/AMPORA_HTTP_PUBLIC_URL/);
    const http = checkSafety(loadConfig({ ...OIDC, AMPORA_AUTH_OIDC_ISSUER: 'http://idp.example.test' }));
    expect(http.refusals.join('\n')).toMatch(/must be an https:\/\/ URL/);
    const noSecret = checkSafety(loadConfig({ AMPORA_AUTH_OIDC_ISSUER: OIDC.AMPORA_AUTH_OIDC_ISSUER }));
    expect(noSecret.refusals.join('\n')).toMatch(/AMPORA_AUTH_OIDC_CLIENT_SECRET/);
    const local = checkSafety(
      loadConfig({
        ...OIDC,
        AMPORA_AUTH_OIDC_ISSUER: 'http://127.0.0.1:1',
        AMPORA_AUTH_OIDC_ALLOW_INSECURE_ISSUER: 'true',
      }),
    );
    expect(local.refusals).toEqual([]);
    expect(local.warnings.join()).toMatch(/ALLOW_INSECURE_ISSUER/);
  });

  it('refuses a scope list without openid', () => {
    expect(() => loadConfig({ ...OIDC, AMPORA_AUTH_OIDC_SCOPES: 'profile email' })).toThrow(
      /AMPORA_AUTH_OIDC_SCOPES/,
    );
  });
});

describe('safeReturnTo', () => {
  it('keeps local paths and drops anything that could leave the site', () => {
    expect(safeReturnTo('/agents?x=1')).toBe('/agents?x=1');
    for (const bad of [
      undefined,
      '',
      'https://evil.example',
      '//evil.example',
      '/\\evil.example',
      'javascript:1',
      '/a b',
      '/\nx',
    ]) {
      expect(safeReturnTo(bad)).toBe('/');
    }
  });
});
