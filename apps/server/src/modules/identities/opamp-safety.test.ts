import { describe, expect, it } from 'vitest';
import { checkSafety, loadConfig } from '../../config/index.js';

const production = {
  AMPORA_MODE: 'production',
  AMPORA_KEY_PROTECTION_MASTER_KEY: 'x',
  AMPORA_DATABASE_URL: 'postgres://db/ampora',
  AMPORA_AUTH_OIDC_ISSUER: 'https://idp.example',
  AMPORA_AUTH_OIDC_CLIENT_ID: 'ampora',
  AMPORA_AUTH_OIDC_CLIENT_SECRET: 'secret',
};

describe('OpAMP trust settings', () => {
  it('defaults to mutual TLS required and no plaintext bootstrap', () => {
    const config = loadConfig({});
    expect(config.opamp.requireMtls).toBe(true);
    expect(config.opamp.bootstrapPlaintextAllowed).toBe(false);
    expect(config.enrollment.tokenTtlSeconds).toBe(86_400);
    expect(config.enrollment.renewAtFraction).toBeCloseTo(2 / 3);
  });

  it('production refuses to start without the listener certificate, naming the settings', () => {
    const report = checkSafety(loadConfig(production));
    expect(report.refusals.join('\n')).toMatch(/AMPORA_OPAMP_TLS_CERT_FILE and AMPORA_OPAMP_TLS_KEY_FILE/);
    const withTls = checkSafety(
      loadConfig({
        ...production,
        AMPORA_OPAMP_TLS_CERT_FILE: '/c.pem',
        AMPORA_OPAMP_TLS_KEY_FILE: '/k.pem',
      }),
    );
    expect(withTls.refusals.join('\n')).not.toMatch(/OPAMP/);
  });

  it('plaintext bootstrap and optional mTLS are refused in production and only warned about locally', () => {
    const unsafe = { AMPORA_OPAMP_BOOTSTRAP_PLAINTEXT_ALLOWED: 'true', AMPORA_OPAMP_REQUIRE_MTLS: 'false' };
    const prod = checkSafety(loadConfig({ ...production, ...unsafe }));
    expect(prod.refusals.join('\n')).toMatch(/AMPORA_OPAMP_BOOTSTRAP_PLAINTEXT_ALLOWED=true/);
    expect(prod.refusals.join('\n')).toMatch(/AMPORA_OPAMP_REQUIRE_MTLS=false/);
    const local = checkSafety(loadConfig(unsafe));
    expect(local.refusals).toEqual([]);
    expect(local.warnings.join('\n')).toMatch(/plain HTTP/);
  });

  it('a certificate without its key (or the reverse) is refused in any mode', () => {
    const report = checkSafety(loadConfig({ AMPORA_OPAMP_TLS_CERT_FILE: '/c.pem' }));
    expect(report.refusals.join('\n')).toMatch(/must be set together/);
  });

  it('rejects a token TTL outside 15 min – 168 h and a renewal fraction outside (0, 0.95]', () => {
    expect(() => loadConfig({ AMPORA_ENROLLMENT_TOKEN_TTL_SECONDS: '60' })).toThrow(
      /AMPORA_ENROLLMENT_TOKEN_TTL_SECONDS/,
    );
    expect(() => loadConfig({ AMPORA_ENROLLMENT_RENEW_AT_FRACTION: '0' })).toThrow(
      /AMPORA_ENROLLMENT_RENEW_AT_FRACTION/,
    );
    expect(() => loadConfig({ AMPORA_ENROLLMENT_RENEW_AT_FRACTION: '1' })).toThrow(
      /AMPORA_ENROLLMENT_RENEW_AT_FRACTION/,
    );
  });
});
