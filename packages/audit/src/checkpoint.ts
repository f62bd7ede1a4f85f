import { withTenant } from '@ampora/db';
import type { Clock, Database, Tx } from '@ampora/db';
import { canonicalJson } from './canonical.js';

/** Signs checkpoint payloads; the key is held by the key protector (software key, KMS or HSM). */
export interface CheckpointSigner {
  readonly keyId: string;
  sign(payload: Buffer): Buffer | Promise<Buffer>;
}

export interface CheckpointBody {
  readonly tenantId: string;
  /** The chain head's seq at the time of the checkpoint. */
  readonly seq: number;
  /** The hash of the event at `seq`. */
  readonly headHash: string;
  /** Events in the chain up to the head; chains are gapless from 1, so this equals `seq`. */
  readonly count: number;
  readonly time: Date;
}

export interface AuditCheckpoint extends CheckpointBody {
  readonly keyId: string;
  readonly signature: Buffer;
}

/**
 * The signed bytes: canonical JSON of the body, with a type tag so that a checkpoint signature can
 * never be replayed as a signature over something else made with the same key.
 */
export function checkpointPayload(body: CheckpointBody): Buffer {
  return Buffer.from(
    canonicalJson({
      type: 'ampora.audit.checkpoint',
      v: 1,
      tenantId: body.tenantId,
      seq: body.seq,
      headHash: body.headHash,
      count: body.count,
      time: body.time.toISOString(),
    }),
    'utf8',
  );
}

export interface CheckpointOptions {
  /**
   * Consulted in the same read as the head when the chain moved since the last checkpoint
   * (`lastSeq` is null before the first one); true means no checkpoint this time.
   */
  skip?: (tx: Tx, state: { seq: number; lastSeq: number | null }) => Promise<boolean>;
}

/**
 * Reads what the next checkpoint of a tenant would state, or undefined when the chain has not
 * moved since the last checkpoint (or has no events yet, or `skip` says so). Runs in the tenant's
 * context.
 */
export async function prepareCheckpoint(
  tx: Tx,
  tenantId: string,
  clock: Clock,
  options: CheckpointOptions = {},
): Promise<CheckpointBody | undefined> {
  const head = await tx
    .selectFrom('audit_chain_heads')
    .select(['seq', 'hash'])
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  if (!head || Number(head.seq) === 0) return undefined;
  const last = await tx
    .selectFrom('audit_checkpoints')
    .select((eb) => eb.fn.max('seq').as('seq'))
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  const seq = Number(head.seq);
  const lastSeq = last?.seq === null || last?.seq === undefined ? null : Number(last.seq);
  if (lastSeq !== null && lastSeq >= seq) return undefined;
  if (await options.skip?.(tx, { seq, lastSeq })) return undefined;
  return { tenantId, seq, headHash: head.hash, count: seq, time: clock.now() };
}

/** Stores a signed checkpoint. A checkpoint of the same seq written by another replica wins quietly. */
export async function recordCheckpoint(tx: Tx, checkpoint: AuditCheckpoint): Promise<void> {
  await tx
    .insertInto('audit_checkpoints')
    .values({
      tenant_id: checkpoint.tenantId,
      seq: checkpoint.seq,
      head_hash: checkpoint.headHash,
      count: checkpoint.count,
      time: checkpoint.time,
      key_id: checkpoint.keyId,
      signature: checkpoint.signature,
    })
    .onConflict((oc) => oc.columns(['tenant_id', 'seq']).doNothing())
    .execute();
}

/**
 * Signs and stores a checkpoint of the tenant's chain head; the hourly job calls it for each
 * tenant. It takes the pool rather than a transaction because signing may be a KMS call, and no
 * remote call happens between BEGIN and COMMIT: the head is read in one short transaction, signed
 * outside any, and stored in a second. That is sound because a checkpoint states a fact that
 * cannot change afterwards (events are append-only): "event `seq` has hash `headHash`".
 * Returns undefined when there was nothing new to checkpoint.
 */
export async function writeCheckpoint(
  db: Database,
  tenantId: string,
  signer: CheckpointSigner,
  clock: Clock,
  options: CheckpointOptions = {},
): Promise<AuditCheckpoint | undefined> {
  const body = await withTenant(db, tenantId, (tx) => prepareCheckpoint(tx, tenantId, clock, options));
  if (!body) return undefined;
  const signature = Buffer.from(await signer.sign(checkpointPayload(body)));
  const checkpoint: AuditCheckpoint = { ...body, keyId: signer.keyId, signature };
  await withTenant(db, tenantId, (tx) => recordCheckpoint(tx, checkpoint));
  return checkpoint;
}
