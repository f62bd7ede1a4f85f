import { sql } from 'kysely';
import { isUuid, type Database, type Tx } from '@ampora/db';
import type { Role } from '@ampora/authz';

export type UserRow = NonNullable<Awaited<ReturnType<typeof findUserBySub>>>;

const USER_COLUMNS = [
  'id',
  'tenant_id',
  'sub',
  'name',
  'email',
  'role',
  'role_source',
  'created_at',
  'last_login_at',
] as const;

/** A tenant by id or slug, as a tenant claim may carry either. Tenants are readable install-wide. */
export async function findTenant(db: Database | Tx, idOrSlug: string) {
  let query = db.selectFrom('tenants').select(['id', 'slug']);
  query = isUuid(idOrSlug)
    ? query.where((eb) => eb.or([eb('id', '=', idOrSlug.toLowerCase()), eb('slug', '=', idOrSlug)]))
    : query.where('slug', '=', idOrSlug);
  return query.executeTakeFirst();
}

export function findUserBySub(tx: Tx, sub: string) {
  return tx.selectFrom('auth_users').select(USER_COLUMNS).where('sub', '=', sub).executeTakeFirst();
}

export function findUserById(tx: Tx, id: string) {
  return tx.selectFrom('auth_users').select(USER_COLUMNS).where('id', '=', id).executeTakeFirst();
}

export function listUsers(tx: Tx) {
  return tx.selectFrom('auth_users').select(USER_COLUMNS).orderBy('created_at').orderBy('id').execute();
}

/**
 * Serialises every change to the tenant's set of Admins. Counting Admins and then changing one is
 * a read-then-write; without the lock, two Admins demoting each other at once would both see two.
 */
export async function lockAdmins(tx: Tx, tenantId: string) {
  await sql`select pg_advisory_xact_lock(hashtextextended(${'ampora:auth-admins:' + tenantId}, 0))`.execute(
    tx,
  );
}

export async function countAdmins(tx: Tx): Promise<number> {
  const row = await tx
    .selectFrom('auth_users')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('role', '=', 'admin')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Claims the install's one-shot first-user slot. True for exactly one caller in the life of the
 * install: the primary key admits one row, and a concurrent claimer waits on it and then gets none.
 */
export async function claimFirstUser(tx: Tx, userId: string, tenantId: string, now: Date): Promise<boolean> {
  const row = await tx
    .insertInto('auth_install_state')
    .values({ id: 1, first_admin_user_id: userId, first_admin_tenant: tenantId, claimed_at: now })
    .onConflict((oc) => oc.column('id').doNothing())
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

export function listRoleMappings(tx: Tx) {
  return tx.selectFrom('auth_role_mappings').select(['idp_group', 'role']).orderBy('idp_group').execute();
}

export async function replaceRoleMappings(
  tx: Tx,
  tenantId: string,
  mappings: ReadonlyArray<{ group: string; role: Role }>,
) {
  await tx.deleteFrom('auth_role_mappings').execute();
  if (mappings.length) {
    await tx
      .insertInto('auth_role_mappings')
      .values(mappings.map((m) => ({ tenant_id: tenantId, idp_group: m.group, role: m.role })))
      .execute();
  }
}

const PAT_COLUMNS = [
  'id',
  'tenant_id',
  'name',
  'role',
  'allowed_endpoints',
  'created_by_user_id',
  'created_by_name',
  'created_at',
  'expires_at',
  'revoked_at',
  'last_used_at',
] as const;

export function listPats(tx: Tx) {
  return tx.selectFrom('auth_pats').select(PAT_COLUMNS).orderBy('created_at', 'desc').execute();
}

export function findPatById(tx: Tx, id: string) {
  return tx.selectFrom('auth_pats').select(PAT_COLUMNS).where('id', '=', id).executeTakeFirst();
}

export type PatRow = NonNullable<Awaited<ReturnType<typeof findPatById>>>;

/** The tenant of a PAT by hash, through the one SECURITY DEFINER function that may look across tenants. */
export async function patTenant(db: Database, tokenHash: string): Promise<string | undefined> {
  const { rows } = await sql<{ t: string | null }>`select auth_pat_tenant(${tokenHash}) as t`.execute(db);
  return rows[0]?.t ?? undefined;
}

/** A PAT with its issuer's current role, which caps the token's. */
export function findPatByHash(tx: Tx, tokenHash: string) {
  return tx
    .selectFrom('auth_pats as p')
    .leftJoin('auth_users as u', 'u.id', 'p.created_by_user_id')
    .select([
      'p.id',
      'p.name',
      'p.token_hash',
      'p.role',
      'p.allowed_endpoints',
      'p.expires_at',
      'p.revoked_at',
      'p.last_used_at',
      'p.created_by_user_id',
      'u.role as issuer_role',
    ])
    .where('p.token_hash', '=', tokenHash)
    .executeTakeFirst();
}

export function findSession(tx: Tx, tokenHash: string) {
  return tx
    .selectFrom('auth_sessions as s')
    .innerJoin('auth_users as u', 'u.id', 's.user_id')
    .select([
      's.token_hash',
      's.created_at',
      's.last_seen_at',
      's.expires_at',
      's.id_token_sealed',
      'u.id as user_id',
      'u.sub',
      'u.name',
      'u.email',
      'u.role',
    ])
    .where('s.token_hash', '=', tokenHash)
    .executeTakeFirst();
}
