import type { Insertable } from 'kysely';
import type { DB, Tx } from '@ampora/db';

export function getCredential(tx: Tx, fingerprint: string) {
  return tx
    .selectFrom('agent_credentials as c')
    .innerJoin('agent_identities as i', (j) =>
      j.onRef('i.tenant_id', '=', 'c.tenant_id').onRef('i.id', '=', 'c.agent_id'),
    )
    .select([
      'c.agent_id',
      'c.state',
      'c.key_origin',
      'c.not_before',
      'c.not_after',
      'c.issued_at',
      'i.instance_uid',
    ])
    .where('c.fingerprint', '=', fingerprint)
    .executeTakeFirst();
}

/** The identity holding this uid, and the id of the agents row that already uses it (if any). */
export async function uidOwner(tx: Tx, uid: Buffer) {
  const identity = await tx
    .selectFrom('agent_identities')
    .select('id')
    .where('instance_uid', '=', uid)
    .executeTakeFirst();
  const agent = await tx.selectFrom('agents').select('id').where('instance_uid', '=', uid).executeTakeFirst();
  return { identityId: identity?.id, agentRowId: agent?.id };
}

/** Which of these uids are bound to an enrolled identity. */
export function boundUids(tx: Tx, uids: Buffer[]) {
  return tx.selectFrom('agent_identities').select('instance_uid').where('instance_uid', 'in', uids).execute();
}

export function insertIdentity(tx: Tx, row: Insertable<DB['agent_identities']>) {
  return tx.insertInto('agent_identities').values(row).execute();
}

export function insertCredential(tx: Tx, row: Insertable<DB['agent_credentials']>) {
  return tx.insertInto('agent_credentials').values(row).execute();
}

/**
 * The agents row an enrollment creates, with the identity's id, so that the gateway's coalesced
 * status writes (keyed by tenant and uid) update it. An existing row for the uid is kept.
 */
export async function ensureAgentRow(tx: Tx, tenantId: string, agentId: string, uid: Buffer, now: Date) {
  await tx
    .insertInto('agents')
    .values({
      tenant_id: tenantId,
      id: agentId,
      instance_uid: uid,
      first_seen_at: now,
      last_seen_at: now,
      updated_at: now,
    })
    .onConflict((oc) => oc.columns(['tenant_id', 'instance_uid']).doNothing())
    .execute();
  const row = await tx.selectFrom('agents').select('id').where('instance_uid', '=', uid).executeTakeFirst();
  return row?.id;
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
