import {
  EndpointPatternError,
  constantTimeEqualHex,
  generateToken,
  hashToken,
  parseEndpointPattern,
  roleAtLeast,
  roleRank,
  type Role,
} from '@ampora/authz';
import { withTenant, type Clock, type Database, type IdSource } from '@ampora/db';
import { problems } from '../../http/problem.js';
import type { Principal } from '../../http/principal.js';
import type { AuditContext, AuditRecorder } from '../audit/audit-recorder.js';
import { findPatByHash, findPatById, listPats, patTenant, type PatRow } from './auth-queries.js';

export interface PatsServiceDeps {
  db: Database;
  clock: Clock;
  ids: IdSource;
  audit: Pick<AuditRecorder, 'record'>;
  /** Token generator; injectable so tests can make tokens they know. */
  generate?: () => string;
}

export interface NewPat {
  name: string;
  role: Role;
  allowedEndpoints?: string[];
  expiresAt?: string;
}

/** Why a PAT was refused; recorded in the audit event. */
export type PatRefusal = 'unknown' | 'revoked' | 'expired' | 'issuer-removed';

export class PatRefusedError extends Error {
  override name = 'PatRefusedError';
  constructor(
    readonly reason: PatRefusal,
    readonly tenantId: string | undefined,
    readonly pat?: { id: string; name: string },
  ) {
    super(`personal access token refused: ${reason}`);
  }
}

/** `last_used_at` is a hint for Admins, not an audit record: written at most once a minute. */
const LAST_USED_RESOLUTION_MS = 60_000;

function view(row: PatRow) {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    allowedEndpoints: row.allowed_endpoints,
    createdBy: row.created_by_name,
    createdAt: row.created_at.toISOString(),
    expiresAt: row.expires_at ? row.expires_at.toISOString() : null,
    revokedAt: row.revoked_at ? row.revoked_at.toISOString() : null,
    lastUsedAt: row.last_used_at ? row.last_used_at.toISOString() : null,
  };
}

const lower = (a: Role, b: Role): Role => (roleRank(a) <= roleRank(b) ? a : b);

/**
 * Personal access tokens: issued by a signed-in user, shown once, stored as a SHA-256 hash,
 * revocable. A token's role never exceeds its issuer's, neither when issued nor later: it is
 * capped by the issuer's current role at every use, and dies with the issuer's account.
 */
export function createPatsService(deps: PatsServiceDeps) {
  const generate = deps.generate ?? (() => generateToken('pat'));

  return {
    async create(issuer: Principal, input: NewPat, ctx: AuditContext) {
      if (issuer.kind !== 'user' || !issuer.userId) {
        throw problems.forbidden('personal access tokens are issued by signed-in users');
      }
      if (!roleAtLeast(issuer.role, input.role)) {
        throw problems.forbidden('a token cannot hold a higher role than its issuer');
      }
      const patterns = input.allowedEndpoints;
      for (const pattern of patterns ?? []) {
        try {
          parseEndpointPattern(pattern);
        } catch (err) {
          if (err instanceof EndpointPatternError) throw problems.badRequest(err.message);
          throw err;
        }
      }
      const now = deps.clock.now();
      const expiresAt = input.expiresAt ? new Date(input.expiresAt) : null;
      if (expiresAt && !(expiresAt.getTime() > now.getTime())) {
        throw problems.badRequest('expiresAt must be in the future');
      }
      const token = generate();
      const id = deps.ids.uuid();
      const row = await withTenant(deps.db, issuer.tenantId, async (tx) => {
        await tx
          .insertInto('auth_pats')
          .values({
            id,
            tenant_id: issuer.tenantId,
            name: input.name,
            token_hash: hashToken(token),
            role: input.role,
            allowed_endpoints: patterns ?? null,
            created_by_user_id: issuer.userId!,
            created_by_name: issuer.name,
            created_at: now,
            expires_at: expiresAt,
          })
          .execute();
        const created = (await findPatById(tx, id))!;
        await deps.audit.record(tx, ctx, {
          action: 'auth.pat.create',
          entity: { type: 'pat', id },
          after: {
            name: input.name,
            role: input.role,
            allowedEndpoints: patterns ?? null,
            expiresAt: expiresAt?.toISOString() ?? null,
          },
        });
        return created;
      });
      return { ...view(row), token };
    },

    async list(tenantId: string) {
      const rows = await withTenant(deps.db, tenantId, (tx) => listPats(tx));
      return { items: rows.map(view) };
    },

    async revoke(tenantId: string, id: string, ctx: AuditContext) {
      await withTenant(deps.db, tenantId, async (tx) => {
        const row = await findPatById(tx, id);
        if (!row) throw problems.notFound('token not found');
        if (row.revoked_at) return;
        await tx
          .updateTable('auth_pats')
          .set({ revoked_at: deps.clock.now() })
          .where('id', '=', id)
          .execute();
        await deps.audit.record(tx, ctx, {
          action: 'auth.pat.revoke',
          entity: { type: 'pat', id },
          before: { name: row.name, role: row.role },
        });
      });
    },

    /** The principal a well-formed PAT stands for, or a {@link PatRefusedError}. */
    async authenticate(token: string): Promise<Principal> {
      const hash = hashToken(token);
      const tenantId = await patTenant(deps.db, hash);
      if (!tenantId) throw new PatRefusedError('unknown', undefined);
      return withTenant(deps.db, tenantId, async (tx) => {
        const row = await findPatByHash(tx, hash);
        if (!row || !constantTimeEqualHex(row.token_hash, hash))
          throw new PatRefusedError('unknown', tenantId);
        const pat = { id: row.id, name: row.name };
        const now = deps.clock.now();
        if (row.revoked_at) throw new PatRefusedError('revoked', tenantId, pat);
        if (row.expires_at && row.expires_at.getTime() <= now.getTime()) {
          throw new PatRefusedError('expired', tenantId, pat);
        }
        if (!row.created_by_user_id || !row.issuer_role) {
          throw new PatRefusedError('issuer-removed', tenantId, pat);
        }
        if (!row.last_used_at || now.getTime() - row.last_used_at.getTime() >= LAST_USED_RESOLUTION_MS) {
          await tx.updateTable('auth_pats').set({ last_used_at: now }).where('id', '=', row.id).execute();
        }
        return {
          kind: 'pat',
          id: row.id,
          name: row.name,
          tenantId,
          role: lower(row.role, row.issuer_role),
          via: 'pat',
          userId: row.created_by_user_id,
          ...(row.allowed_endpoints ? { allowedEndpoints: row.allowed_endpoints } : {}),
        } satisfies Principal;
      });
    },
  };
}

export type PatsService = ReturnType<typeof createPatsService>;
