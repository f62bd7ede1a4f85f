import { createAuditReader, verifyChain, type ChainProblem } from '@ampora/audit';
import { isUuid, type Database } from '@ampora/db';
import { createAuditSigningKeys } from '../modules/audit/audit-signing-keys.js';
import type { CliRuntime } from './cli-runtime.js';
import { EXIT, UsageError } from './cli-errors.js';

export interface AuditVerifyOptions {
  /** Tenant id or slug; every tenant when left out. */
  tenant?: string;
  json: boolean;
}

export interface TenantVerdict {
  tenantId: string;
  slug: string;
  ok: boolean;
  /** Events checked and found sound (before the problem, when there is one). */
  count: number;
  firstBadSeq?: number;
  problem?: ChainProblem;
}

const EXPLAIN: Record<ChainProblem, string> = {
  seq_gap: 'events are missing (rows deleted)',
  reordered: 'events were moved or a seq repeats',
  broken_link: 'the event does not link to its predecessor (one of them was rewritten)',
  hash_mismatch: 'the event no longer matches its hash (row edited)',
  checkpoint_mismatch: 'a signed checkpoint names another hash here (chain rewritten from here on)',
  head_mismatch: 'the chain head names another hash here',
  truncated: 'the chain ends before its checkpoints or head say it should (tail removed)',
  bad_checkpoint_signature: 'the checkpoint signature does not verify (forged checkpoint)',
  bad_checkpoint: 'the checkpoint is malformed',
};

async function selectTenants(db: Database, wanted: string | undefined) {
  let q = db.selectFrom('tenants').select(['id', 'slug']).orderBy('slug');
  if (wanted !== undefined) {
    q = isUuid(wanted) ? q.where('id', '=', wanted.toLowerCase()) : q.where('slug', '=', wanted);
  }
  const rows = await q.execute();
  if (wanted !== undefined && rows.length === 0)
    throw new UsageError(`no tenant has the id or slug "${wanted}"`);
  return rows;
}

/**
 * `ampora audit verify`: recomputes each tenant's chain and checks the checkpoint signatures.
 *
 * It reads through the app role, one tenant at a time in that tenant's RLS context, rather than
 * through the owner connection: that is exactly what the server itself can see, it needs no
 * privilege beyond the server's, and a superuser's RLS bypass cannot make it read rows the server
 * would not. Every tenant is checked, so one broken chain does not hide another.
 */
export async function auditVerifyCommand(
  rt: Pick<CliRuntime, 'database' | 'keys' | 'clock' | 'logger'>,
  options: AuditVerifyOptions,
  out: (line: string) => void,
): Promise<number> {
  const db = rt.database.db;
  const tenants = await selectTenants(db, options.tenant);
  const signingKeys = createAuditSigningKeys({ db, keys: rt.keys, clock: rt.clock });
  const reader = createAuditReader(db);
  const verdicts: TenantVerdict[] = [];
  for (const tenant of tenants) {
    const started = performance.now();
    const result = await verifyChain(reader, {
      tenantId: tenant.id,
      verifySignature: signingKeys.verifySignature,
    });
    rt.logger.debug({ tenant: tenant.slug, ms: Math.round(performance.now() - started) }, 'tenant verified');
    const verdict: TenantVerdict = result.ok
      ? { tenantId: tenant.id, slug: tenant.slug, ok: true, count: result.count }
      : {
          tenantId: tenant.id,
          slug: tenant.slug,
          ok: false,
          count: result.count,
          firstBadSeq: result.firstBadSeq,
          problem: result.problem,
        };
    verdicts.push(verdict);
    if (!options.json) out(describe(verdict));
  }
  const ok = verdicts.every((v) => v.ok);
  if (options.json) out(JSON.stringify({ ok, tenants: verdicts }));
  else out(ok ? `audit chain intact (${verdicts.length} tenant(s))` : 'audit chain NOT intact');
  return ok ? EXIT.ok : EXIT.problem;
}

function describe(v: TenantVerdict): string {
  const who = `tenant ${v.slug} (${v.tenantId})`;
  if (v.ok) return `${who}: ok, ${v.count} event(s) verified`;
  return `${who}: BAD at seq ${v.firstBadSeq}: ${v.problem} - ${EXPLAIN[v.problem!]} (${v.count} event(s) sound before it)`;
}
