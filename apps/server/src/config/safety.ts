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
  flag(
    config.api.insecureNoAuth,
    'AMPORA_API_INSECURE_NO_AUTH=true serves the operator API without authentication',
  );
  flag(config.testHooks.enabled, 'AMPORA_TEST_HOOKS_ENABLED=true exposes test-only endpoints');
  return { refusals, warnings };
}
