import { Counter, type Registry } from 'prom-client';

export interface AuditMetrics {
  archived: Counter;
  purged: Counter;
  checkpoints: Counter;
}

export function createAuditMetrics(registry: Registry): AuditMetrics {
  return {
    archived: new Counter({
      name: 'ampora_audit_archived_total',
      help: 'Audit events moved from the hot table to the archive by the retention sweep',
      registers: [registry],
    }),
    purged: new Counter({
      name: 'ampora_audit_purged_total',
      help: 'Archived audit events purged by the retention sweep',
      registers: [registry],
    }),
    checkpoints: new Counter({
      name: 'ampora_audit_checkpoints_total',
      help: 'Signed audit checkpoints written',
      registers: [registry],
    }),
  };
}
