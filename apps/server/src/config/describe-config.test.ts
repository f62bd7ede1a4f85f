import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Value } from 'typebox/value';
import { describe, expect, it } from 'vitest';
import { ConfigSchema, type Config } from './config-schema.js';
import { configurationMarkdown, describeConfig, productionRefusals } from './describe-config.js';
import { checkSafety } from './safety.js';

describe('configuration reference', () => {
  it('lists every setting with its environment name', () => {
    const envs = describeConfig().map((d) => d.env);
    expect(envs).toContain('AMPORA_OPAMP_MAX_MESSAGE_BYTES');
    expect(envs).toContain('AMPORA_KEY_PROTECTION_MASTER_KEY');
    expect(new Set(envs).size).toBe(envs.length);
  });

  it('describes every setting in one sentence', () => {
    for (const d of describeConfig()) {
      expect(d.description, d.env).toMatch(/^\S.{19,}[.)]$/);
      expect(d.description.split(/[.?!] (?=[A-Z])/), d.env).toHaveLength(1);
    }
  });

  it('names what production mode refuses, including every convenience local mode only warns about', () => {
    const refusals = productionRefusals();
    for (const name of [
      'AMPORA_KEY_PROTECTION_MASTER_KEY is required',
      'AMPORA_DATABASE_URL (or DATABASE_URL) is required',
      'AMPORA_AUTH_OIDC_ISSUER is required',
      'AMPORA_AUTH_OIDC_ISSUER must be an https:// URL',
      'AMPORA_OPAMP_TLS_CERT_FILE and AMPORA_OPAMP_TLS_KEY_FILE must be set together',
    ]) {
      expect(
        refusals.some((r) => r.startsWith(name)),
        name,
      ).toBe(true);
    }
    const local = Value.Default(ConfigSchema, {
      api: { insecureNoAuth: true },
      testHooks: { enabled: true },
      opamp: { requireMtls: false, bootstrapPlaintextAllowed: true },
      auth: { oidc: { allowInsecureIssuer: true } },
    }) as Config;
    const warnings = checkSafety(local).warnings;
    expect(warnings).toHaveLength(5);
    for (const warning of warnings) expect(refusals).toContain(warning);
  });

  it('docs/configuration.md is up to date (run `npm run docs:config`)', () => {
    const file = readFileSync(path.resolve(import.meta.dirname, '../../../../docs/configuration.md'), 'utf8');
    expect(file).toBe(configurationMarkdown());
    expect(file).toContain('## Production mode');
    expect(file).toContain(
      '- `AMPORA_API_INSECURE_NO_AUTH=true` serves the operator API without authentication',
    );
  });
});
