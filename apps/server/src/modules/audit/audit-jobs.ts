import { sql } from 'kysely';
import { sweepRetention, writeCheckpoint, type AuditCheckpoint } from '@ampora/audit';
import { withTenant, type Clock, type Database, type Tx } from '@ampora/db';
import type { Logger } from '../../observability/logger.js';
import { tenantIds } from '../../runtime/scheduled-jobs.js';
import type { AuditMetrics } from './audit-metrics.js';
import { systemAuditContext, type AuditRecorder } from './audit-recorder.js';
import type { AuditSigningKeys } from './audit-signing-keys.js';

export const CHECKPOINT_ACTION = 'audit.checkpoint.write';
export const RETENTION_ACTION = 'audit.retention.sweep';

export interface AuditJobsDeps {
  db: Database;
  clock: Clock;
  logger: Logger;
  audit: Pick<AuditRecorder, 'record'>;
  signingKeys: Pick<AuditSigningKeys, 'signer'>;
  metrics: AuditMetrics;
  retention: { hotDays: number; archiveDays: number };
}

export interface CheckpointRound {
  tenants: number;
  written: number;
  failed: number;
}

export interface RetentionRound {
  tenants: number;
  archived: number;
  purged: number;
  failed: number;
}

/**
 * True when the only event since the tenant's last checkpoint is the event that recorded that
 * checkpoint. Checkpointing it would write another such event, and a quiet tenant would get a new
 * checkpoint and event every round forever; it is covered by the next checkpoint after real activity.
 */
async function onlyOwnEventSinceCheckpoint(
  tx: Tx,
  tenantId: string,
  { seq, lastSeq }: { seq: number; lastSeq: number | null },
): Promise<boolean> {
  if (lastSeq === null || seq !== lastSeq + 1) return false;
  const { rows } = await sql<{ action: string }>`
    select action from audit_events where tenant_id = ${tenantId} and seq = ${seq}
    union all
    select action from audit_events_archive where tenant_id = ${tenantId} and seq = ${seq}`.execute(tx);
  return rows[0]?.action === CHECKPOINT_ACTION;
}

/** One round of each audit job over every tenant. A failing tenant is logged and does not stop the others. */
export function createAuditJobs(deps: AuditJobsDeps) {
  const log = deps.logger;

  async function checkpointTenant(
    tenantId: string,
    signer: Awaited<ReturnType<AuditJobsDeps['signingKeys']['signer']>>,
  ) {
    const checkpoint: AuditCheckpoint | undefined = await writeCheckpoint(
      deps.db,
      tenantId,
      signer,
      deps.clock,
      { skip: (tx, state) => onlyOwnEventSinceCheckpoint(tx, tenantId, state) },
    );
    if (!checkpoint) return undefined;
    deps.metrics.checkpoints.inc();
    await withTenant(deps.db, tenantId, (tx) =>
      deps.audit.record(tx, systemAuditContext(tenantId, 'audit-checkpoint'), {
        action: CHECKPOINT_ACTION,
        entity: { type: 'audit_checkpoint', id: String(checkpoint.seq) },
        after: { seq: checkpoint.seq, headHash: checkpoint.headHash, keyId: checkpoint.keyId },
      }),
    );
    return checkpoint;
  }

  return {
    /** Signs a checkpoint of every tenant whose chain moved since its last one. */
    async checkpointRound(): Promise<CheckpointRound> {
      const tenants = await tenantIds(deps.db);
      const signer = await deps.signingKeys.signer();
      const round: CheckpointRound = { tenants: tenants.length, written: 0, failed: 0 };
      for (const tenantId of tenants) {
        try {
          if (await checkpointTenant(tenantId, signer)) round.written++;
        } catch (err) {
          round.failed++;
          log.error({ err: (err as Error).message, tenantId }, 'audit checkpoint failed');
        }
      }
      return round;
    },

    /** Moves old events to the archive and purges the oldest archived ones, tenant by tenant. */
    async retentionRound(): Promise<RetentionRound> {
      const tenants = await tenantIds(deps.db);
      const round: RetentionRound = { tenants: tenants.length, archived: 0, purged: 0, failed: 0 };
      for (const tenantId of tenants) {
        try {
          const result = await withTenant(deps.db, tenantId, async (tx) => {
            const r = await sweepRetention(tx, { tenantId, ...deps.retention, now: deps.clock.now() });
            // A sweep that moved nothing is not worth an event: it would only grow the chain.
            if (r.archived > 0 || r.purged > 0) {
              await deps.audit.record(tx, systemAuditContext(tenantId, 'audit-retention'), {
                action: RETENTION_ACTION,
                entity: { type: 'audit_log', id: null },
                after: { archived: r.archived, purged: r.purged, ...deps.retention },
              });
            }
            return r;
          });
          deps.metrics.archived.inc(result.archived);
          deps.metrics.purged.inc(result.purged);
          round.archived += result.archived;
          round.purged += result.purged;
        } catch (err) {
          round.failed++;
          log.error({ err: (err as Error).message, tenantId }, 'audit retention sweep failed');
        }
      }
      return round;
    },
  };
}

export type AuditJobs = ReturnType<typeof createAuditJobs>;
