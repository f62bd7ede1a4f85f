import { sql, type RawBuilder } from 'kysely';
import { SEALED_STRING_PREFIX, type KeyProtector } from '@ampora/keys';
import { withTenant, type Clock, type Database } from '@ampora/db';
import type { Logger } from '../observability/logger.js';
import { resealCanary } from '../runtime/key-protection.js';
import { tenantIds } from '../runtime/scheduled-jobs.js';
import type { SealedColumn } from './sealed-columns.js';

type Row = Record<string, unknown>;

export interface RewrapOptions {
  dryRun: boolean;
  /** Rows read, rewrapped and written per transaction. */
  batchSize?: number;
}

export interface ColumnReport {
  table: string;
  column: string;
  /** Set when the column was not walked (its table does not exist yet). */
  skipped?: string;
  scanned: number;
  /** Written under the current key (or, with --dry-run, that would be). */
  rewrapped: number;
  upToDate: number;
  /** Changed by someone else between read and write; the new value was written under the current key. */
  changedMeanwhile: number;
  failed: number;
}

export interface RewrapReport {
  dryRun: boolean;
  columns: ColumnReport[];
  canary: 'rewrapped' | 'up-to-date' | 'pending' | 'missing' | 'kept (failures)';
  failed: number;
}

export interface RewrapDeps {
  /** Owner connection: rewrap is maintenance of key material, like migrations, and needs no app-role grants. */
  db: Database;
  keys: KeyProtector;
  clock: Clock;
  logger: Logger;
}

const isSealed = (v: unknown): v is string => typeof v === 'string' && v.startsWith(SEALED_STRING_PREFIX);

async function columnsOf(db: Database, table: string): Promise<Set<string>> {
  const { rows } = await sql<{ name: string }>`
    select column_name as name from information_schema.columns
    where table_schema = current_schema() and table_name = ${table}`.execute(db);
  return new Set(rows.map((r) => r.name));
}

/** Runs `fn` in one transaction, in the tenant's RLS context when the table is tenant-scoped. */
function inScope<T>(
  db: Database,
  tenantId: string | undefined,
  fn: (tx: Database) => Promise<T>,
): Promise<T> {
  return tenantId === undefined
    ? db.transaction().execute((tx) => fn(tx))
    : withTenant(db, tenantId, (tx) => fn(tx));
}

/**
 * Moves every sealed value to the current master key (or provider): `rewrap` replaces only the
 * wrapped data key, so values stay byte-identical in meaning. Safe to repeat: values already on
 * the current key are left alone. Crypto happens between transactions (a KMS may be remote);
 * each batch is written in one short transaction, and a row is only replaced if it still holds
 * the value that was read. The key-check canary moves last, and only when nothing failed, so a
 * canary on the current key means the rotation is complete.
 */
export async function rewrapAll(
  deps: RewrapDeps,
  registry: SealedColumn[],
  options: RewrapOptions,
): Promise<RewrapReport> {
  const batchSize = options.batchSize ?? 200;
  const columns: ColumnReport[] = [];
  for (const entry of registry) {
    columns.push(await rewrapColumn(deps, entry, batchSize, options.dryRun));
  }
  const failed = columns.reduce((n, c) => n + c.failed, 0);

  const state = await deps.db
    .selectFrom('key_protection_state')
    .select('canary')
    .where('id', '=', 1)
    .executeTakeFirst();
  let canary: RewrapReport['canary'];
  if (!state) canary = 'missing';
  else if (!deps.keys.needsRewrap(state.canary)) canary = 'up-to-date';
  else if (options.dryRun) canary = 'pending';
  else if (failed > 0) canary = 'kept (failures)';
  else {
    await resealCanary(deps.db, deps.keys, deps.clock);
    canary = 'rewrapped';
  }
  deps.logger.info({ canary }, 'key-check canary');
  return { dryRun: options.dryRun, columns, canary, failed };
}

async function rewrapColumn(
  deps: RewrapDeps,
  entry: SealedColumn,
  batchSize: number,
  dryRun: boolean,
): Promise<ColumnReport> {
  const report: ColumnReport = {
    table: entry.table,
    column: entry.column,
    scanned: 0,
    rewrapped: 0,
    upToDate: 0,
    changedMeanwhile: 0,
    failed: 0,
  };
  const log = deps.logger.child({ table: entry.table, column: entry.column });
  const present = await columnsOf(deps.db, entry.table);
  const needed = [entry.idColumn, entry.column, ...(entry.aadColumns ?? [])];
  const missing = needed.filter((c) => !present.has(c));
  if (missing.length > 0) {
    report.skipped = present.size === 0 ? 'table does not exist' : `missing column(s) ${missing.join(', ')}`;
    log.info({ reason: report.skipped }, 'skipped');
    return report;
  }

  // A tenant-scoped table is walked tenant by tenant in each tenant's context, so the walk sees
  // every row whether or not the connecting role bypasses row-level security.
  const scopes: Array<string | undefined> = present.has('tenant_id') ? await tenantIds(deps.db) : [undefined];
  const selectList = sql.join(needed.map((c) => sql.ref(c)));
  const table = sql.table(entry.table);
  const id = sql.ref(entry.idColumn);
  const value = sql.ref(entry.column);

  for (const tenantId of scopes) {
    let after: unknown;
    for (;;) {
      // The explicit tenant filter matters for a role that bypasses RLS (a superuser owner), which
      // would otherwise see every tenant's rows in each tenant's pass.
      const scope: RawBuilder<unknown> = tenantId === undefined ? sql`true` : sql`tenant_id = ${tenantId}`;
      const cursor: RawBuilder<unknown> = after === undefined ? sql`true` : sql`${id} > ${after}`;
      const rows = await inScope(deps.db, tenantId, async (tx) => {
        const r =
          await sql<Row>`select ${selectList} from ${table} where ${scope} and ${cursor} order by ${id} limit ${batchSize}`.execute(
            tx,
          );
        return r.rows;
      });
      if (rows.length === 0) break;
      after = rows[rows.length - 1]![entry.idColumn];

      const updates: Array<{ id: unknown; from: string; to: string }> = [];
      for (const row of rows) {
        const current = row[entry.column];
        if (!isSealed(current)) continue; // NULL, or a value this entry does not seal
        report.scanned++;
        try {
          const next = await rewrapValue(deps.keys, entry, row, current);
          if (next === undefined) report.upToDate++;
          else if (dryRun) report.rewrapped++;
          else updates.push({ id: row[entry.idColumn], from: current, to: next });
        } catch (err) {
          report.failed++;
          log.error({ id: String(row[entry.idColumn]), err: (err as Error).message }, 'cannot rewrap value');
        }
      }
      if (updates.length > 0) {
        const written = await inScope(deps.db, tenantId, async (tx) => {
          let n = 0;
          for (const u of updates) {
            const r =
              await sql`update ${table} set ${value} = ${u.to} where ${scope} and ${id} = ${u.id} and ${value} = ${u.from}`.execute(
                tx,
              );
            n += Number(r.numAffectedRows ?? 0);
          }
          return n;
        });
        report.rewrapped += written;
        report.changedMeanwhile += updates.length - written;
      }
      log.info({ tenantId, scanned: report.scanned, rewrapped: report.rewrapped, dryRun }, 'progress');
      if (rows.length < batchSize) break;
    }
  }
  return report;
}

/** The value under the current key, or undefined when it (and any value nested in it) already is. */
async function rewrapValue(
  keys: KeyProtector,
  entry: SealedColumn,
  row: Row,
  sealed: string,
): Promise<string | undefined> {
  const aad = entry.aad(row);
  const outerStale = keys.needsRewrap(sealed);
  if (entry.innerAad) {
    const inner = await keys.openToString(sealed, aad);
    if (isSealed(inner) && keys.needsRewrap(inner)) {
      // The inner value changes, so the outer one is sealed afresh rather than rewrapped.
      return keys.sealToString(await keys.rewrap(inner, entry.innerAad(row)), aad);
    }
  }
  if (!outerStale) return undefined;
  return keys.rewrap(sealed, aad);
}
