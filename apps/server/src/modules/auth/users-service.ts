import { DEFAULT_TENANT_ID, withTenant, type Clock, type Database, type IdSource, type Tx } from '@ampora/db';
import { rolesFromClaims, tenantFromClaims, type Role } from '@ampora/authz';
import { problems } from '../../http/problem.js';
import type { Principal } from '../../http/principal.js';
import type { AuditContext, AuditRecorder } from '../audit/audit-recorder.js';
import {
  claimFirstUser,
  countAdmins,
  findTenant,
  findUserById,
  findUserBySub,
  listRoleMappings,
  listUsers,
  lockAdmins,
  replaceRoleMappings,
} from './auth-queries.js';

export interface ClaimSettings {
  roleClaim: string;
  groupsClaim: string;
  tenantClaim: string;
}

export interface UsersServiceDeps {
  db: Database;
  clock: Clock;
  ids: IdSource;
  audit: Pick<AuditRecorder, 'record'>;
  claims: ClaimSettings;
}

/** Why a login or a bearer token was refused; recorded in the audit event, never shown in detail. */
export type LoginRefusal = 'missing-subject' | 'unknown-tenant' | 'no-role';

export class LoginRefusedError extends Error {
  override name = 'LoginRefusedError';
  constructor(
    readonly reason: LoginRefusal,
    /** The tenant to record the refusal in. */
    readonly tenantId: string,
  ) {
    super(`login refused: ${reason}`);
  }
}

export interface LoggedInUser {
  id: string;
  tenantId: string;
  sub: string;
  name: string;
  email: string | null;
  role: Role;
}

const str = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v.trim().slice(0, 255) : null);

/** The display name for audit events and the UI: name, then e-mail, then the subject. */
export function displayName(claims: Record<string, unknown>): string {
  return str(claims.name) ?? str(claims.preferred_username) ?? str(claims.email) ?? String(claims.sub);
}

function userView(row: NonNullable<Awaited<ReturnType<typeof findUserById>>>) {
  return {
    id: row.id,
    sub: row.sub,
    name: row.name,
    email: row.email,
    role: row.role,
    roleSource: row.role_source,
    createdAt: row.created_at.toISOString(),
    lastLoginAt: row.last_login_at ? row.last_login_at.toISOString() : null,
  };
}

/**
 * Whether moving a user from role `from` to `to` (null: removing them) would leave the tenant
 * without an Admin. The caller holds the tenant's Admin lock, so the count cannot change under it.
 */
async function losesLastAdmin(tx: Tx, from: Role, to: Role | null): Promise<boolean> {
  return from === 'admin' && to !== 'admin' && (await countAdmins(tx)) <= 1;
}

/**
 * Operators per tenant: who they are (from the IdP's claims), which role they hold, and the rules
 * around Admins: the first user of an install becomes one, and the last one of a tenant is never
 * demoted or removed.
 */
export function createUsersService(deps: UsersServiceDeps) {
  /** The tenant the claims name (by id or slug), or the default tenant when they name none. */
  async function tenantOf(claims: Record<string, unknown>): Promise<string> {
    const named = tenantFromClaims(claims, { tenantClaim: deps.claims.tenantClaim });
    if (named === undefined) return DEFAULT_TENANT_ID;
    const tenant = await findTenant(deps.db, named);
    if (!tenant) throw new LoginRefusedError('unknown-tenant', DEFAULT_TENANT_ID);
    return tenant.id;
  }

  async function claimedRole(tx: Tx, claims: Record<string, unknown>): Promise<Role | undefined> {
    const mappings = (await listRoleMappings(tx)).map((m) => ({ group: m.idp_group, role: m.role }));
    return rolesFromClaims(claims, {
      roleClaim: deps.claims.roleClaim,
      groupsClaim: deps.claims.groupsClaim,
      mappings,
    });
  }

  return {
    tenantOf,

    /**
     * Records an interactive login in one transaction: creates or updates the user, applies the
     * first-user rule, writes the audit events, and lets `inTx` add the session row, so that a
     * session exists only for a login that was recorded.
     */
    async login(
      claims: Record<string, unknown>,
      audit: Omit<AuditContext, 'tenantId' | 'actor'>,
      inTx: (tx: Tx, user: LoggedInUser) => Promise<void>,
    ): Promise<LoggedInUser> {
      const sub = str(claims.sub);
      if (!sub) throw new LoginRefusedError('missing-subject', DEFAULT_TENANT_ID);
      const tenantId = await tenantOf(claims);
      const name = displayName(claims);
      const email = str(claims.email);
      const actor = { kind: 'user' as const, id: sub, name };
      const ctx: AuditContext = { ...audit, tenantId, actor };
      const now = deps.clock.now();

      return withTenant(deps.db, tenantId, async (tx) => {
        await lockAdmins(tx, tenantId);
        const fromClaims = await claimedRole(tx, claims);
        const existing = await findUserBySub(tx, sub);
        let user: LoggedInUser;
        if (!existing) {
          const id = deps.ids.uuid();
          // Every new user tries the one-shot slot; only the first in the install's life gets it.
          const first = await claimFirstUser(tx, id, tenantId, now);
          const role = first ? 'admin' : fromClaims;
          if (!role) throw new LoginRefusedError('no-role', tenantId);
          await tx
            .insertInto('auth_users')
            .values({
              id,
              tenant_id: tenantId,
              sub,
              name,
              email,
              role,
              role_source: first ? 'first-user' : 'idp',
              created_at: now,
              last_login_at: now,
            })
            .execute();
          user = { id, tenantId, sub, name, email, role };
          await deps.audit.record(tx, ctx, {
            action: 'auth.user.create',
            entity: { type: 'user', id },
            after: { sub, name, email, role, roleSource: first ? 'first-user' : 'idp' },
          });
          if (first) {
            await deps.audit.record(tx, ctx, {
              action: 'auth.first-admin.grant',
              entity: { type: 'user', id },
              after: { role: 'admin', claimedRole: fromClaims ?? null },
            });
          }
        } else {
          let role = existing.role;
          if (existing.role_source === 'idp') {
            if (!fromClaims) throw new LoginRefusedError('no-role', tenantId);
            role = fromClaims;
            // The IdP may not take away the tenant's last Admin either.
            if (await losesLastAdmin(tx, existing.role, role)) role = 'admin';
          }
          await tx
            .updateTable('auth_users')
            .set({ name, email, role, last_login_at: now })
            .where('id', '=', existing.id)
            .execute();
          if (role !== existing.role) {
            await deps.audit.record(tx, ctx, {
              action: 'auth.user.role.change',
              entity: { type: 'user', id: existing.id },
              before: { role: existing.role },
              after: { role, source: 'idp' },
            });
          }
          user = { id: existing.id, tenantId, sub, name, email, role };
        }
        await deps.audit.record(tx, ctx, {
          action: 'auth.login',
          entity: { type: 'user', id: user.id },
          after: { role: user.role },
        });
        await inTx(tx, user);
        return user;
      });
    },

    /**
     * The role of a bearer-token caller: the stored role when an Admin set it by hand (or the user
     * is the install's first Admin), otherwise what the claims grant now.
     */
    async bearerRole(tenantId: string, claims: Record<string, unknown>) {
      const sub = str(claims.sub);
      if (!sub) throw new LoginRefusedError('missing-subject', tenantId);
      return withTenant(deps.db, tenantId, async (tx) => {
        const user = await findUserBySub(tx, sub);
        const role = user && user.role_source !== 'idp' ? user.role : await claimedRole(tx, claims);
        if (!role) throw new LoginRefusedError('no-role', tenantId);
        return { sub, role, userId: user?.id };
      });
    },

    /**
     * The IdP subject of the person acting: a user's own, and for a PAT the subject of the user who
     * issued it (four-eyes approvals compare people, not credentials). Undefined when unknown.
     */
    async subjectOf(principal: Principal): Promise<string | undefined> {
      if (principal.kind === 'user') return principal.id;
      if (principal.kind !== 'pat' || !principal.userId) return undefined;
      const issuer = await withTenant(deps.db, principal.tenantId, (tx) =>
        findUserById(tx, principal.userId!),
      );
      return issuer?.sub;
    },

    async list(tenantId: string) {
      const rows = await withTenant(deps.db, tenantId, (tx) => listUsers(tx));
      return { items: rows.map(userView) };
    },

    async setRole(tenantId: string, id: string, role: Role, ctx: AuditContext) {
      return withTenant(deps.db, tenantId, async (tx) => {
        await lockAdmins(tx, tenantId);
        const user = await findUserById(tx, id);
        if (!user) throw problems.notFound('user not found');
        if (await losesLastAdmin(tx, user.role, role)) {
          throw problems.conflict('the last Admin of a tenant cannot be demoted');
        }
        await tx
          .updateTable('auth_users')
          .set({ role, role_source: 'manual' })
          .where('id', '=', id)
          .execute();
        await deps.audit.record(tx, ctx, {
          action: 'auth.user.role.change',
          entity: { type: 'user', id },
          before: { role: user.role, roleSource: user.role_source },
          after: { role, roleSource: 'manual' },
        });
        return userView({ ...user, role, role_source: 'manual' });
      });
    },

    async remove(tenantId: string, id: string, ctx: AuditContext) {
      await withTenant(deps.db, tenantId, async (tx) => {
        await lockAdmins(tx, tenantId);
        const user = await findUserById(tx, id);
        if (!user) throw problems.notFound('user not found');
        if (await losesLastAdmin(tx, user.role, null)) {
          throw problems.conflict('the last Admin of a tenant cannot be removed');
        }
        const now = deps.clock.now();
        const revoked = await tx
          .updateTable('auth_pats')
          .set({ revoked_at: now })
          .where('created_by_user_id', '=', id)
          .where('revoked_at', 'is', null)
          .returning('id')
          .execute();
        // Sessions go with the row (ON DELETE CASCADE).
        await tx.deleteFrom('auth_users').where('id', '=', id).execute();
        await deps.audit.record(tx, ctx, {
          action: 'auth.user.delete',
          entity: { type: 'user', id },
          before: userView(user),
          after: { revokedPats: revoked.map((r) => r.id) },
        });
      });
    },

    async roleMappings(tenantId: string) {
      const rows = await withTenant(deps.db, tenantId, (tx) => listRoleMappings(tx));
      return { mappings: rows.map((r) => ({ group: r.idp_group, role: r.role })) };
    },

    async setRoleMappings(
      tenantId: string,
      mappings: ReadonlyArray<{ group: string; role: Role }>,
      ctx: AuditContext,
    ) {
      const groups = new Set(mappings.map((m) => m.group));
      if (groups.size !== mappings.length) throw problems.badRequest('each group may be mapped once');
      return withTenant(deps.db, tenantId, async (tx) => {
        const before = (await listRoleMappings(tx)).map((r) => ({ group: r.idp_group, role: r.role }));
        await replaceRoleMappings(tx, tenantId, mappings);
        const after = [...mappings].sort((a, b) => a.group.localeCompare(b.group));
        await deps.audit.record(tx, ctx, {
          action: 'auth.role-mappings.update',
          entity: { type: 'role-mappings', id: tenantId },
          before: { mappings: before },
          after: { mappings: after },
        });
        return { mappings: after };
      });
    },
  };
}

export type UsersService = ReturnType<typeof createUsersService>;
