import type { Config } from '../../config/index.js';

export type AuditPreset = NonNullable<Config['audit']['preset']>;

/** Retention tiers of the compliance presets: days hot, and days kept at all (hot + archive). */
export const AUDIT_PRESETS: Record<AuditPreset, { hotDays: number; archiveDays: number }> = {
  soc2: { hotDays: 90, archiveDays: 365 },
  hipaa: { hotDays: 30, archiveDays: 2190 },
  pci: { hotDays: 90, archiveDays: 365 },
  iso27001: { hotDays: 90, archiveDays: 1095 },
};

export const DEFAULT_RETENTION = { hotDays: 90, archiveDays: 2555 };

export interface AuditSettings {
  hotDays: number;
  archiveDays: number;
  sweepIntervalMs: number;
  checkpointIntervalMs: number;
}

/**
 * The effective audit settings: an explicit `hotDays`/`archiveDays` wins over the preset, which
 * wins over the defaults. Throws when the tiers contradict each other, naming the settings.
 */
export function resolveAuditSettings(audit: Config['audit']): AuditSettings {
  const base = audit.preset ? AUDIT_PRESETS[audit.preset] : DEFAULT_RETENTION;
  const hotDays = audit.hotDays ?? base.hotDays;
  const archiveDays = audit.archiveDays ?? base.archiveDays;
  if (archiveDays < hotDays) {
    throw new Error(
      `AMPORA_AUDIT_ARCHIVE_DAYS (${archiveDays}) must be at least AMPORA_AUDIT_HOT_DAYS (${hotDays})`,
    );
  }
  return {
    hotDays,
    archiveDays,
    sweepIntervalMs: audit.sweepIntervalMinutes * 60_000,
    checkpointIntervalMs: audit.checkpointIntervalMinutes * 60_000,
  };
}
