import type { Insertable } from 'kysely';
import type { DB, Tx } from '@ampora/db';

export function getCredential(tx: Tx, fingerprint: string) {
  return tx
    .selectFrom('agent_credentials as c')
    .innerJoin('agent_identities as i', (j) =>
      j.onRef('i.tenant_id', '=', 'c.tenant_id').onRef('i.id', '=', 'c.agent_id'),
    )
    .select(['c.agent_id', 'c.state', 'c.key_origin', 'c.not_before', 'c.not_after', 'i.instance_uid'])
    .where('c.fingerprint', '=', fingerprint)
    .executeTakeFirst();
}

/** The identity holding this uid, and the id of the agents row that already uses it (if any). */
export async function uidOwner(tx: Tx, uid: Buffer) {
  const row = await tx
    .selectNoFrom((eb) => [
      eb
        .selectFrom('agent_identities')
        .select('id')
        .where('instance_uid', '=', uid)
        .limit(1)
        .as('identity_id'),
      eb.selectFrom('agents').select('id').where('instance_uid', '=', uid).limit(1).as('agent_id'),
    ])
    .executeTakeFirstOrThrow();
  return { identityId: row.identity_id ?? undefined, agentRowId: row.agent_id ?? undefined };
}

/** Which of these uids are bound to an enrolled identity. */
export function boundUids(tx: Tx, uids: Buffer[]) {
  return tx.selectFrom('agent_identities').select('instance_uid').where('instance_uid', 'in', uids).execute();
}

export function insertCredential(tx: Tx, row: Insertable<DB['agent_credentials']>) {
  return tx.insertInto('agent_credentials').values(row).execute();
}

/**
 * Everything an enrollment writes about the agent, in one statement: the identity, its first
 * credential, and the agents row, created with the identity's id so that the gateway's coalesced
 * status writes (keyed by tenant and uid) update it. An existing agents row for the uid is kept.
 * Returns the id of the agents row that holds the uid: the caller refuses the enrollment when it
 * is not the identity's (a row another connection created meanwhile).
 */
export async function insertEnrollment(
  tx: Tx,
  identity: Insertable<DB['agent_identities']> & { id: string; instance_uid: Buffer; enrolled_at: Date },
  credential: Insertable<DB['agent_credentials']>,
): Promise<string | undefined> {
  const row = await tx
    .with('identity', (db) => db.insertInto('agent_identities').values(identity))
    .with('credential', (db) => db.insertInto('agent_credentials').values(credential))
    .with('agent', (db) =>
      db
        .insertInto('agents')
        .values({
          tenant_id: identity.tenant_id,
          id: identity.id,
          instance_uid: identity.instance_uid,
          first_seen_at: identity.enrolled_at,
          last_seen_at: identity.enrolled_at,
          updated_at: identity.enrolled_at,
        })
        .onConflict((oc) => oc.columns(['tenant_id', 'instance_uid']).doNothing())
        .returning('id'),
    )
    .selectNoFrom((eb) =>
      eb.fn
        .coalesce(
          eb.selectFrom('agent').select('agent.id'),
          eb
            .selectFrom('agents')
            .select('agents.id')
            .where('agents.instance_uid', '=', identity.instance_uid),
        )
        .as('id'),
    )
    .executeTakeFirst();
  return row?.id ?? undefined;
}

/** Makes `fingerprint` the identity's current certificate; every older one becomes superseded. */
export async function promoteCredential(tx: Tx, agentId: string, fingerprint: string, now: Date) {
  const promoted = await tx
    .updateTable('agent_credentials')
    .set({ state: 'current', activated_at: now })
    .where('fingerprint', '=', fingerprint)
    .where('state', '=', 'pending')
    .returning(['issued_at'])
    .executeTakeFirst();
  if (!promoted) return undefined;
  const superseded = await tx
    .updateTable('agent_credentials')
    .set({ state: 'superseded', superseded_at: now })
    .where('agent_id', '=', agentId)
    .where('fingerprint', '!=', fingerprint)
    .where('state', 'in', ['pending', 'current'])
    .where('issued_at', '<=', promoted.issued_at)
    .returning(['fingerprint', 'serial_hex'])
    .execute();
  return superseded;
}
