import type { Config } from './config-schema.js';

export interface SafetyReport {
  /** Settings that make the server refuse to start. */
  refusals: string[];
  /** Unsafe settings allowed in local mode; logged loudly at start. */
  warnings: string[];
}

/**
 * Production mode refuses to start without what it needs or with development conveniences switched on.
 * Each message names the setting, so the fix is obvious from the log line alone.
 */
export function checkSafety(config: Config): SafetyReport {
  const refusals: string[] = [];
  const warnings: string[] = [];
  const production = config.mode === 'production';
  const flag = (unsafe: boolean, message: string) => {
    if (!unsafe) return;
    (production ? refusals : warnings).push(message);
  };

  if (production && !config.keyProtection.masterKey) {
    refusals.push(
      'AMPORA_KEY_PROTECTION_MASTER_KEY is required in production mode (base64 of 32 random bytes)',
    );
  }
  if (production && !config.database.url) {
    refusals.push(
      'AMPORA_DATABASE_URL (or DATABASE_URL) is required in production mode; embedded Postgres is for local mode',
    );
  }
  const oidc = config.auth.oidc;
  if (production && !oidc.issuer) {
    refusals.push('AMPORA_AUTH_OIDC_ISSUER is required in production mode (operators sign in through OIDC)');
  }
  if (oidc.issuer && (!oidc.clientId || !oidc.clientSecret)) {
    refusals.push(
      'AMPORA_AUTH_OIDC_CLIENT_ID and AMPORA_AUTH_OIDC_CLIENT_SECRET are required when AMPORA_AUTH_OIDC_ISSUER is set',
    );
  }
  if (oidc.issuer && !oidc.issuer.startsWith('https://') && !oidc.allowInsecureIssuer) {
    refusals.push(
      'AMPORA_AUTH_OIDC_ISSUER must be an https:// URL (AMPORA_AUTH_OIDC_ALLOW_INSECURE_ISSUER=true allows http in local mode)',
    );
  }
  if (production && oidc.issuer && !config.http.publicUrl && !oidc.redirectUrl) {
    refusals.push(
      'AMPORA_HTTP_PUBLIC_URL (or AMPORA_AUTH_OIDC_REDIRECT_URL) is required in production mode to build the OIDC redirect URL',
    );
  }
  flag(
    oidc.allowInsecureIssuer,
    'AMPORA_AUTH_OIDC_ALLOW_INSECURE_ISSUER=true lets the identity provider be reached over plain http',
  );
  flag(
    config.api.insecureNoAuth,
    'AMPORA_API_INSECURE_NO_AUTH=true serves the operator API without authentication',
  );
  flag(config.testHooks.enabled, 'AMPORA_TEST_HOOKS_ENABLED=true exposes test-only endpoints');
  // Plaintext has no production exception: a TLS-terminating proxy cannot hand us the agent's
  // client certificate, so mTLS needs TLS to end here, and tokens and keys must not cross in clear.
  flag(
    config.opamp.bootstrapPlaintextAllowed,
    'AMPORA_OPAMP_BOOTSTRAP_PLAINTEXT_ALLOWED=true serves OpAMP over plain HTTP: bootstrap tokens and ' +
      'server-generated agent keys cross the network in clear, and no client certificate can be checked',
  );
  flag(
    !config.opamp.requireMtls,
    'AMPORA_OPAMP_REQUIRE_MTLS=false admits agents without any credentials into the default tenant',
  );
  if (production && !config.opamp.bootstrapPlaintextAllowed) {
    if (!config.opamp.tlsCertFile || !config.opamp.tlsKeyFile) {
      refusals.push(
        'AMPORA_OPAMP_TLS_CERT_FILE and AMPORA_OPAMP_TLS_KEY_FILE are required in production mode ' +
          '(the OpAMP listener serves TLS with a certificate agents can verify)',
      );
    }
  }
  if (!!config.opamp.tlsCertFile !== !!config.opamp.tlsKeyFile) {
    refusals.push('AMPORA_OPAMP_TLS_CERT_FILE and AMPORA_OPAMP_TLS_KEY_FILE must be set together');
  }
  if (production && !config.http.publicUrl && (!config.ca.crlUrl || !config.ca.ocspUrl)) {
    // A warning, not a refusal: agents that do not check revocation still work.
    warnings.push(
      'AMPORA_HTTP_PUBLIC_URL (or AMPORA_CA_CRL_URL and AMPORA_CA_OCSP_URL) is unset: agent certificates ' +
        'will name CRL and OCSP URLs on 127.0.0.1, which agents cannot reach',
    );
  }
  return { refusals, warnings };
}
