import {
  createKeyProtector,
  KeyProtectorError,
  parseMasterKey,
  parsePreviousMasterKey,
  type KeyProtector,
} from '@ampora/keys';
import { sql } from 'kysely';
import type { Clock, Database } from '@ampora/db';
import type { Logger } from '../observability/logger.js';
import type { MasterKeyMaterial } from './master-key.js';

export function createKeys(master: MasterKeyMaterial): KeyProtector {
  return createKeyProtector({
    master: parseMasterKey(master.current),
    previous: parsePreviousMasterKey(master.previous),
  });
}

/**
 * Compares the configured master key with the one the database was written with, through a sealed
 * canary. A mismatch stops the server before it reads or writes any protected value.
 */
export async function checkMasterKey(db: Database, keys: KeyProtector, clock: Clock, logger: Logger) {
  const row = await readCanary(db);
  if (!row) {
    const canary = await keys.keyCheck();
    await db
      .insertInto('key_protection_state')
      .values({ id: 1, canary, key_id: keys.keyId, updated_at: clock.now() })
      .onConflict((oc) => oc.doNothing())
      .execute();
    return;
  }
  await verifyCanary(row, keys, logger);
}

async function verifyCanary(row: { canary: string; key_id: string }, keys: KeyProtector, logger: Logger) {
  let status;
  try {
    status = await keys.verifyKeyCheck(row.canary);
  } catch (err) {
    if (err instanceof KeyProtectorError) {
      throw new Error(
        `AMPORA_KEY_PROTECTION_MASTER_KEY does not match the master key this database was written with ` +
          `(key id ${row.key_id}; configured ${keys.keyId}). Set the original key, or set it as ` +
          `AMPORA_KEY_PROTECTION_PREVIOUS_MASTER_KEY and run \`ampora keys rewrap\`.`,
      );
    }
    throw err;
  }
  if (status === 'previous') {
    logger.warn(
      { previousKeyId: row.key_id, currentKeyId: keys.keyId },
      'data is still wrapped under the previous master key; run `ampora keys rewrap` to finish the rotation',
    );
  }
}

async function readCanary(db: Database) {
  return db
    .selectFrom('key_protection_state')
    .select(['canary', 'key_id'])
    .where('id', '=', 1)
    .executeTakeFirst();
}

/**
 * The same comparison before migrations, on an existing database only (a new one has no canary
 * table yet). Writes nothing. Resolves true when it found and verified the canary: migrations never
 * remove it, so the check after them (which seals the first canary) has nothing left to do.
 */
export async function precheckMasterKey(owner: Database, keys: KeyProtector, logger: Logger) {
  const exists = await sql<{
    t: string | null;
  }>`select to_regclass('public.key_protection_state')::text as t`.execute(owner);
  if (!exists.rows[0]?.t) return false;
  const row = await readCanary(owner);
  if (!row) return false;
  await verifyCanary(row, keys, logger);
  return true;
}

/** After a rewrap, the canary moves to the current key. */
export async function resealCanary(db: Database, keys: KeyProtector, clock: Clock) {
  const canary = await keys.keyCheck();
  await db
    .updateTable('key_protection_state')
    .set({ canary, key_id: keys.keyId, updated_at: clock.now() })
    .where('id', '=', 1)
    .execute();
}
