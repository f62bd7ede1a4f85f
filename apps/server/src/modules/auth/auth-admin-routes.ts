import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { principalOf } from '../../http/principal.js';
import { requestAuditContext } from '../audit/audit-recorder.js';
import {
  CreatePatBody,
  CreatedPat,
  PatId,
  PatList,
  RoleMappings,
  SetRoleBody,
  User,
  UserId,
  UserList,
} from './auth-schemas.js';
import type { PatsService } from './pats-service.js';
import type { UsersService } from './users-service.js';

const NoContent = { type: 'null', description: 'Done' } as const;

/** Identity administration: users and their roles, the tenant's group → role mapping, and PATs. */
export function authAdminRoutes(deps: { users: UsersService; pats: PatsService }) {
  return async function routes(fastify: FastifyInstance) {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

    app.get(
      '/api/auth/users',
      {
        config: { access: { action: 'auth:users:read' } },
        schema: { tags: ['auth'], summary: 'List the users of the tenant', response: { 200: UserList } },
      },
      async (request) => deps.users.list(principalOf(request).tenantId),
    );

    app.put(
      '/api/auth/users/:id/role',
      {
        config: { access: { action: 'auth:users:write' } },
        schema: {
          tags: ['auth'],
          summary: "Set a user's role by hand (kept over the IdP's claims); the last Admin cannot be demoted",
          params: Type.Object({ id: UserId }),
          body: SetRoleBody,
          response: { 200: User },
        },
      },
      async (request) => {
        const p = principalOf(request);
        return deps.users.setRole(
          p.tenantId,
          request.params.id,
          request.body.role,
          requestAuditContext(request, p),
        );
      },
    );

    app.delete(
      '/api/auth/users/:id',
      {
        config: { access: { action: 'auth:users:write' } },
        schema: {
          tags: ['auth'],
          summary: 'Remove a user, their sessions and their PATs; the last Admin cannot be removed',
          params: Type.Object({ id: UserId }),
          response: { 204: NoContent },
        },
      },
      async (request, reply) => {
        const p = principalOf(request);
        await deps.users.remove(p.tenantId, request.params.id, requestAuditContext(request, p));
        return reply.code(204).send();
      },
    );

    app.get(
      '/api/auth/role-mappings',
      {
        config: { access: { action: 'auth:role-mappings:read' } },
        schema: {
          tags: ['auth'],
          summary: "The tenant's IdP group → role mapping",
          response: { 200: RoleMappings },
        },
      },
      async (request) => deps.users.roleMappings(principalOf(request).tenantId),
    );

    app.put(
      '/api/auth/role-mappings',
      {
        config: { access: { action: 'auth:role-mappings:write' } },
        schema: {
          tags: ['auth'],
          summary:
            "Replace the tenant's IdP group → role mapping (while it has entries, the role claim is ignored)",
          body: RoleMappings,
          response: { 200: RoleMappings },
        },
      },
      async (request) => {
        const p = principalOf(request);
        return deps.users.setRoleMappings(p.tenantId, request.body.mappings, requestAuditContext(request, p));
      },
    );

    app.get(
      '/api/auth/tokens',
      {
        config: { access: { action: 'auth:pats:read' } },
        schema: {
          tags: ['auth'],
          summary: 'List personal access tokens (never the tokens themselves)',
          response: { 200: PatList },
        },
      },
      async (request) => deps.pats.list(principalOf(request).tenantId),
    );

    app.post(
      '/api/auth/tokens',
      {
        config: { access: { action: 'auth:pats:write' } },
        schema: {
          tags: ['auth'],
          summary: 'Issue a personal access token; the response is the only time the token is shown',
          body: CreatePatBody,
          response: { 201: CreatedPat },
        },
      },
      async (request, reply) => {
        const p = principalOf(request);
        const created = await deps.pats.create(p, request.body, requestAuditContext(request, p));
        return reply.code(201).header('cache-control', 'no-store').send(created);
      },
    );

    app.delete(
      '/api/auth/tokens/:id',
      {
        config: { access: { action: 'auth:pats:write' } },
        schema: {
          tags: ['auth'],
          summary: 'Revoke a personal access token',
          params: Type.Object({ id: PatId }),
          response: { 204: NoContent },
        },
      },
      async (request, reply) => {
        const p = principalOf(request);
        await deps.pats.revoke(p.tenantId, request.params.id, requestAuditContext(request, p));
        return reply.code(204).send();
      },
    );
  };
}
