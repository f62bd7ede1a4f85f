import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/principal.js';
import { requestAuditContext, requestMeta } from '../audit/audit-recorder.js';
import {
  CreatedPool,
  CreatePoolBody,
  CreateTokenBody,
  IdParams,
  IssuedToken,
  ListTokensQuery,
  MintTokenBody,
  PoolIdParams,
  PoolList,
  RotatedPool,
  RotateSecretBody,
  TokenList,
} from './enrollment-schemas.js';
import type { EnrollmentService } from './enrollment-service.js';
import type { TokenPoolsService } from './token-pools-service.js';

export const POOL_SECRET_HEADER = 'x-ampora-pool-secret';

const auditContext = (request: FastifyRequest) => requestAuditContext(request, principalOf(request));

export function enrollmentRoutes(deps: { tokens: EnrollmentService; pools: TokenPoolsService }) {
  return async function routes(fastify: FastifyInstance) {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

    app.post(
      '/api/enrollment/tokens',
      {
        config: { access: { action: 'tokens:write' } },
        schema: {
          tags: ['enrollment'],
          summary: 'Issue a bootstrap token (the token is shown only in this answer)',
          body: CreateTokenBody,
          response: { 201: IssuedToken },
        },
      },
      async (request, reply) => {
        const issued = await deps.tokens.createToken(auditContext(request), request.body);
        return reply.code(201).header('cache-control', 'no-store').send(issued);
      },
    );

    app.get(
      '/api/enrollment/tokens',
      {
        config: { access: { action: 'tokens:read' } },
        schema: {
          tags: ['enrollment'],
          summary: 'List unredeemed bootstrap tokens (never their secrets)',
          querystring: ListTokensQuery,
          response: { 200: TokenList },
        },
      },
      async (request) => deps.tokens.listTokens(principalOf(request).tenantId, request.query),
    );

    app.delete(
      '/api/enrollment/tokens/:id',
      {
        config: { access: { action: 'tokens:write' } },
        schema: {
          tags: ['enrollment'],
          summary: 'Delete (revoke) an unredeemed bootstrap token',
          params: IdParams,
        },
      },
      async (request, reply) => {
        await deps.tokens.deleteToken(auditContext(request), request.params.id);
        return reply.code(204).send();
      },
    );

    app.post(
      '/api/enrollment/pools',
      {
        config: { access: { action: 'token-pools:write' } },
        schema: {
          tags: ['enrollment'],
          summary: 'Create a token pool (its admin secret is shown only in this answer)',
          body: CreatePoolBody,
          response: { 201: CreatedPool },
        },
      },
      async (request, reply) => {
        const pool = await deps.pools.createPool(auditContext(request), request.body);
        return reply.code(201).header('cache-control', 'no-store').send(pool);
      },
    );

    app.get(
      '/api/enrollment/pools',
      {
        config: { access: { action: 'token-pools:read' } },
        schema: { tags: ['enrollment'], summary: 'List token pools', response: { 200: PoolList } },
      },
      async (request) => deps.pools.listPools(principalOf(request).tenantId),
    );

    app.post(
      '/api/enrollment/pools/:id/rotate-secret',
      {
        config: { access: { action: 'token-pools:write' } },
        schema: {
          tags: ['enrollment'],
          summary: "Rotate a token pool's admin secret (the new one is shown only in this answer)",
          params: IdParams,
          body: RotateSecretBody,
          response: { 200: RotatedPool },
        },
      },
      async (request, reply) => {
        const pool = await deps.pools.rotatePoolSecret(
          auditContext(request),
          request.params.id,
          request.body ?? {},
        );
        return reply.header('cache-control', 'no-store').send(pool);
      },
    );

    app.delete(
      '/api/enrollment/pools/:id',
      {
        config: { access: { action: 'token-pools:write' } },
        schema: { tags: ['enrollment'], summary: 'Delete a token pool', params: IdParams },
      },
      async (request, reply) => {
        await deps.pools.deletePool(auditContext(request), request.params.id);
        return reply.code(204).send();
      },
    );

    app.post(
      '/api/enrollment/pools/:id/tokens',
      {
        config: {
          access: {
            anonymous: true,
            why:
              'automation (provisioning scripts, autoscalers) holds no operator identity; the pool admin ' +
              'secret in X-Ampora-Pool-Secret is the credential, checked in constant time by the handler, ' +
              'which can only mint single-use tokens for that pool',
          },
        },
        schema: {
          tags: ['enrollment'],
          summary: 'Mint a bootstrap token from a pool (authenticated by X-Ampora-Pool-Secret)',
          params: PoolIdParams,
          body: MintTokenBody,
          response: { 201: IssuedToken },
        },
      },
      async (request, reply) => {
        const secret = request.headers[POOL_SECRET_HEADER];
        const issued = await deps.pools.mintPoolToken(
          request.params.id,
          typeof secret === 'string' ? secret : undefined,
          requestMeta(request),
          request.body ?? {},
        );
        return reply.code(201).header('cache-control', 'no-store').send(issued);
      },
    );
  };
}
