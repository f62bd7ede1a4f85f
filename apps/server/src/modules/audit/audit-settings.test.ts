import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config/index.js';
import { resolveAuditSettings } from './audit-settings.js';

const settings = (env: Record<string, string>) => resolveAuditSettings(loadConfig(env).audit);

describe('audit settings', () => {
  it('defaults to 90 hot days, 2555 days kept, hourly sweeps and checkpoints', () => {
    expect(settings({})).toEqual({
      hotDays: 90,
      archiveDays: 2555,
      sweepIntervalMs: 3_600_000,
      checkpointIntervalMs: 3_600_000,
    });
  });

  it.each([
    ['soc2', 90, 365],
    ['hipaa', 30, 2190],
    ['pci', 90, 365],
    ['iso27001', 90, 1095],
  ])('preset %s sets %i/%i', (preset, hotDays, archiveDays) => {
    expect(settings({ AMPORA_AUDIT_PRESET: preset })).toMatchObject({ hotDays, archiveDays });
  });

  it('explicit days override the preset', () => {
    expect(settings({ AMPORA_AUDIT_PRESET: 'hipaa', AMPORA_AUDIT_HOT_DAYS: '60' })).toMatchObject({
      hotDays: 60,
      archiveDays: 2190,
    });
    expect(settings({ AMPORA_AUDIT_SWEEP_INTERVAL_MINUTES: '5' }).sweepIntervalMs).toBe(300_000);
  });

  it('refuses unknown presets, archives shorter than a year, and archives shorter than the hot tier', () => {
    expect(() => settings({ AMPORA_AUDIT_PRESET: 'gdpr' })).toThrow(ConfigError);
    expect(() => settings({ AMPORA_AUDIT_ARCHIVE_DAYS: '30' })).toThrow(/AMPORA_AUDIT_ARCHIVE_DAYS/);
    expect(() => settings({ AMPORA_AUDIT_HOT_DAYS: '400', AMPORA_AUDIT_ARCHIVE_DAYS: '365' })).toThrow(
      /AMPORA_AUDIT_ARCHIVE_DAYS \(365\) must be at least AMPORA_AUDIT_HOT_DAYS \(400\)/,
    );
  });
});
