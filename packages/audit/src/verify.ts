import { computeRecordHash, GENESIS_HASH } from './chain.js';
import type { AuditRecord } from './chain.js';
import { checkpointPayload } from './checkpoint.js';
import type { AuditCheckpoint } from './checkpoint.js';
import type { AuditChainReader } from './reader.js';

/**
 * What verification found wrong, at `firstBadSeq`:
 * - `seq_gap`: events are missing (deleted rows); `firstBadSeq` is the first missing seq.
 * - `reordered`: the event links to another event of the chain than its predecessor, or repeats a
 *   seq (rows moved around, seq values swapped).
 * - `broken_link`: the event's prev_hash is not the hash of its predecessor, nor of any event
 *   nearby: the event or its predecessor was rewritten.
 * - `hash_mismatch`: the event's content no longer matches its hash (edited row).
 * - `checkpoint_mismatch`: a signed checkpoint names another hash for this seq (the chain was
 *   rewritten from here on, hashes recomputed).
 * - `head_mismatch`: the chain head names another hash for this seq.
 * - `truncated`: the chain ends before a checkpoint or the chain head says it should; `firstBadSeq`
 *   is the first missing seq.
 * - `bad_checkpoint_signature`, `bad_checkpoint`: the checkpoint at `firstBadSeq` is forged or
 *   malformed.
 */
export type ChainProblem =
  | 'seq_gap'
  | 'reordered'
  | 'broken_link'
  | 'hash_mismatch'
  | 'checkpoint_mismatch'
  | 'head_mismatch'
  | 'truncated'
  | 'bad_checkpoint_signature'
  | 'bad_checkpoint';

export type VerifyResult =
  | { readonly ok: true; readonly count: number; readonly tenants: number }
  | {
      readonly ok: false;
      readonly tenantId: string;
      readonly firstBadSeq: number;
      readonly problem: ChainProblem;
      /** Events checked and found sound before the problem. */
      readonly count: number;
    };

export interface VerifyOptions {
  /** Only this tenant; every tenant when left out. */
  readonly tenantId?: string;
  /** Checks a checkpoint signature with the public half of key `keyId`. */
  readonly verifySignature: (keyId: string, payload: Buffer, signature: Buffer) => boolean | Promise<boolean>;
  /** Events read per page. Default 10,000. */
  readonly batchSize?: number;
}

type TenantResult =
  { ok: true; count: number } | { ok: false; firstBadSeq: number; problem: ChainProblem; count: number };

/**
 * Recomputes every tenant's chain from the stored rows (hot and archive) and checks it against the
 * signed checkpoints and the chain head. Stops at the first problem of a tenant and names it.
 *
 * A purged prefix: retention purges only up to a checkpoint, so when the first retained event has
 * seq F > 1, the checkpoint at F-1 (its signature already checked) is the trusted anchor, and the
 * event must link to that checkpoint's hash. Without such a checkpoint, the missing prefix is a gap.
 */
export async function verifyChain(reader: AuditChainReader, options: VerifyOptions): Promise<VerifyResult> {
  const tenants = options.tenantId === undefined ? await reader.tenantIds() : [options.tenantId];
  let count = 0;
  for (const tenantId of tenants) {
    const result = await verifyTenant(reader, tenantId, options);
    if (!result.ok)
      return {
        ok: false,
        tenantId,
        firstBadSeq: result.firstBadSeq,
        problem: result.problem,
        count: result.count,
      };
    count += result.count;
  }
  return { ok: true, count, tenants: tenants.length };
}

async function verifyTenant(
  reader: AuditChainReader,
  tenantId: string,
  options: VerifyOptions,
): Promise<TenantResult> {
  const batchSize = options.batchSize ?? 10_000;
  // The head is read before the rows: events appended meanwhile only extend the chain past it.
  const head = await reader.head(tenantId);
  const checkpoints = await reader.checkpoints(tenantId);
  const bySeq = new Map<number, AuditCheckpoint>();
  for (const cp of checkpoints) {
    if (cp.tenantId !== tenantId || cp.count !== cp.seq || !/^[0-9a-f]{64}$/.test(cp.headHash)) {
      return { ok: false, firstBadSeq: cp.seq, problem: 'bad_checkpoint', count: 0 };
    }
    if (!(await options.verifySignature(cp.keyId, checkpointPayload(cp), cp.signature))) {
      return { ok: false, firstBadSeq: cp.seq, problem: 'bad_checkpoint_signature', count: 0 };
    }
    bySeq.set(cp.seq, cp);
  }
  const lastCheckpoint = checkpoints.at(-1);

  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let count = 0;
  let started = false;
  let previousBatch: AuditRecord[] = [];
  const fail = (firstBadSeq: number, problem: ChainProblem): TenantResult => ({
    ok: false,
    firstBadSeq,
    problem,
    count,
  });

  // The next page is fetched while the current one is hashed, so the database and the CPU overlap.
  const fetchAfter = (seq: number) => {
    const page = reader.records(tenantId, seq, batchSize);
    page.catch(() => {}); // awaited below; a verdict reached first must not leave it unhandled
    return page;
  };
  let pending: Promise<AuditRecord[]> | undefined = fetchAfter(0);
  while (pending) {
    const batch: AuditRecord[] = await pending;
    pending = batch.length === batchSize ? fetchAfter(batch.at(-1)!.seq) : undefined;
    for (const record of batch) {
      if (!started) {
        started = true;
        if (record.seq > 1) {
          const anchor = bySeq.get(record.seq - 1);
          if (!anchor) {
            const below = checkpoints.filter((cp) => cp.seq < record.seq).at(-1);
            return fail((below?.seq ?? 0) + 1, 'seq_gap');
          }
          expectedSeq = record.seq;
          prevHash = anchor.headHash;
        }
      }
      if (record.seq < expectedSeq) return fail(record.seq, 'reordered');
      if (record.seq > expectedSeq) return fail(expectedSeq, 'seq_gap');
      if (record.prevHash !== prevHash) {
        // Rows moved around still link to rows of the chain; look nearby (one page either side).
        const next = await reader.records(tenantId, batch.at(-1)!.seq, batchSize);
        const nearby = [...previousBatch, ...batch, ...next];
        const linksElsewhere = nearby.some((r) => r.seq !== record.seq && r.hash === record.prevHash);
        return fail(record.seq, linksElsewhere ? 'reordered' : 'broken_link');
      }
      if (computeRecordHash(record) !== record.hash) return fail(record.seq, 'hash_mismatch');
      const checkpoint = bySeq.get(record.seq);
      if (checkpoint && checkpoint.headHash !== record.hash) return fail(record.seq, 'checkpoint_mismatch');
      if (head && head.seq === record.seq && head.hash !== record.hash)
        return fail(record.seq, 'head_mismatch');
      prevHash = record.hash;
      expectedSeq++;
      count++;
    }
    previousBatch = batch;
  }

  if (!started) {
    // Nothing retained: fine for a new tenant, or when everything was purged up to a checkpoint
    // at the head.
    const headSeq = head?.seq ?? 0;
    const coveredSeq = Math.max(headSeq, lastCheckpoint?.seq ?? 0);
    if (coveredSeq === 0) return { ok: true, count: 0 };
    const anchor = bySeq.get(coveredSeq);
    if (anchor && (!head || head.hash === anchor.headHash)) return { ok: true, count: 0 };
    return fail(1, 'truncated');
  }
  const lastSeq = expectedSeq - 1;
  if (lastCheckpoint && lastCheckpoint.seq > lastSeq) return fail(lastSeq + 1, 'truncated');
  if (head && head.seq > lastSeq) return fail(lastSeq + 1, 'truncated');
  return { ok: true, count };
}
