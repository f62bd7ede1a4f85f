import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSafety, ConfigError, envNameFor, loadConfig } from './index.js';

describe('configuration', () => {
  it('applies documented defaults when nothing is set', () => {
    const c = loadConfig({});
    expect(c.mode).toBe('local');
    expect(c.http.port).toBe(8080);
    expect(c.opamp.port).toBe(4320);
    expect(c.opamp.maxMessageBytes).toBe(10 * 1024 * 1024);
    expect(c.opamp.heartbeatWindowSeconds).toBe(90);
    expect(c.api.insecureNoAuth).toBe(false);
  });

  it('maps nested keys to AMPORA_ environment names', () => {
    expect(envNameFor(['opamp', 'maxMessageBytes'])).toBe('AMPORA_OPAMP_MAX_MESSAGE_BYTES');
    expect(envNameFor(['keyProtection', 'masterKey'])).toBe('AMPORA_KEY_PROTECTION_MASTER_KEY');
  });

  it('reads and coerces environment variables, single or double underscore', () => {
    const c = loadConfig({
      AMPORA_HTTP_PORT: '9000',
      AMPORA_OPAMP__MAX_MESSAGE_BYTES: '2048',
      AMPORA_API_INSECURE_NO_AUTH: 'true',
    });
    expect(c.http.port).toBe(9000);
    expect(c.opamp.maxMessageBytes).toBe(2048);
    expect(c.api.insecureNoAuth).toBe(true);
  });

  it('takes DATABASE_URL as the database URL', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://x@h/db' }).database.url).toBe('postgres://x@h/db');
  });

  it('reads a YAML file and lets the environment override it', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ampora-cfg-'));
    const file = path.join(dir, 'ampora.yaml');
    writeFileSync(file, 'http:\n  port: 7000\nopamp:\n  heartbeatIntervalSeconds: 10\n');
    const c = loadConfig({ AMPORA_CONFIG_FILE: file, AMPORA_HTTP_PORT: '7001' });
    expect(c.http.port).toBe(7001);
    expect(c.opamp.heartbeatIntervalSeconds).toBe(10);
  });

  it('names the bad key: wrong type, out of range, unknown variable, unknown file key', () => {
    expect(() => loadConfig({ AMPORA_HTTP_PORT: 'abc' })).toThrow(/AMPORA_HTTP_PORT/);
    expect(() => loadConfig({ AMPORA_HTTP_PORT: '70000' })).toThrow(/AMPORA_HTTP_PORT/);
    expect(() => loadConfig({ AMPORA_OPAMP_MAX_MESAGE_BYTES: '1' })).toThrow(
      /AMPORA_OPAMP_MAX_MESAGE_BYTES: unknown setting/,
    );
    expect(() => loadConfig({ AMPORA_MODE: 'prod' })).toThrow(ConfigError);
    const dir = mkdtempSync(path.join(tmpdir(), 'ampora-cfg-'));
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'opamp:\n  maxMessageBytes: 12\n');
    expect(() => loadConfig({ AMPORA_CONFIG_FILE: file })).toThrow(/AMPORA_OPAMP_MAX_MESSAGE_BYTES/);
  });

  it('production mode refuses missing essentials and development switches, naming each', () => {
    const report = checkSafety(
      loadConfig({ AMPORA_MODE: 'production', AMPORA_API_INSECURE_NO_AUTH: 'true' }),
    );
    expect(report.refusals.join('\n')).toMatch(/AMPORA_KEY_PROTECTION_MASTER_KEY/);
    expect(report.refusals.join('\n')).toMatch(/DATABASE_URL/);
    expect(report.refusals.join('\n')).toMatch(/AMPORA_API_INSECURE_NO_AUTH/);
    const local = checkSafety(loadConfig({ AMPORA_API_INSECURE_NO_AUTH: 'true' }));
    expect(local.refusals).toEqual([]);
    expect(local.warnings.join()).toMatch(/AMPORA_API_INSECURE_NO_AUTH/);
  });
});
