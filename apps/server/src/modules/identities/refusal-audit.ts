import type { AuditActor } from '@ampora/audit';
import type { Admitted } from '../../gateway/agent-principal.js';
import type { ServerContext } from '../../runtime/context.js';
import { recordDenied, type AuditedChange } from '../audit/audit-recorder.js';
import { createTokenBuckets } from '../../http/token-buckets.js';

export interface RefusalAuditDeps extends Pick<ServerContext, 'db' | 'clock' | 'audit' | 'logger'> {
  /** Refusals audited per client address per minute; the rest are only counted and logged. */
  perAddressPerMinute?: number;
}

export interface Refusal {
  tenantId: string;
  actor: AuditActor;
  remoteAddress: string;
  userAgent: string | null;
  change: Omit<AuditedChange, 'outcome'>;
}

/** A refusal of what an admitted agent connection asked for, in that agent's name. */
export function agentRefusal(
  admitted: Admitted,
  actor: { id: string; name: string },
  change: Refusal['change'],
): Refusal {
  return {
    tenantId: admitted.tenantId,
    actor: { kind: 'agent', ...actor },
    remoteAddress: admitted.remoteAddress,
    userAgent: admitted.userAgent,
    change,
  };
}

/**
 * Audits refused agent credentials and messages (outcome `denied`) in a transaction of their own:
 * nothing else commits with a refusal. An address that keeps failing is audited a bounded number
 * of times per minute, so a flood of forged credentials cannot flood the audit trail with it; the
 * metrics still count every refusal.
 */
export function createRefusalAudit(deps: RefusalAuditDeps) {
  const buckets = createTokenBuckets(deps.clock, deps.perAddressPerMinute ?? 60);
  return function recordRefusal(r: Refusal): void {
    if (!buckets.take(r.remoteAddress).ok) return;
    const ctx = {
      tenantId: r.tenantId,
      actor: r.actor,
      sourceIp: r.remoteAddress || null,
      userAgent: r.userAgent,
      requestId: null,
    };
    // Not awaited: an agent's refusal waits for no audit write.
    void recordDenied(deps.db, deps.audit, ctx, r.change, (err) =>
      deps.logger.error({ err }, 'could not audit a refused agent credential'),
    );
  };
}

export type RecordRefusal = ReturnType<typeof createRefusalAudit>;
