import { createPublicKey } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { withTenant, type Database } from '@ampora/db';
import { isPkiError } from '@ampora/pki';
import { principalOf } from '../../http/principal.js';
import { problems } from '../../http/problem.js';
import type { Pki } from './pki-service.js';

/**
 * Test-only issuance (`AMPORA_TEST_HOOKS_ENABLED=true`, refused in production), so end-to-end
 * tests can obtain agent certificates before enrollment exists. Issues exactly as enrollment will:
 * sign first, then record in a tenant transaction.
 */
export function pkiTestRoutes(pki: Pki, db: Database) {
  return async function routes(fastify: FastifyInstance) {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    app.post(
      '/api/_test/pki/agent-certificates',
      {
        config: { access: { action: 'pki:certs:renew' } },
        schema: {
          hide: true,
          body: Type.Object(
            {
              agentId: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' }),
              publicKeyPem: Type.String({ minLength: 1, maxLength: 20_000 }),
              commonName: Type.Optional(Type.String({ maxLength: 256 })),
              /** Records under another tenant, for cross-tenant tests. */
              tenantId: Type.Optional(Type.String({ format: 'uuid' })),
              lifetimeDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
            },
            { additionalProperties: false },
          ),
          response: {
            201: Type.Object({
              id: Type.String(),
              serialHex: Type.String(),
              fingerprint: Type.String(),
              certPem: Type.String(),
              chainPem: Type.String(),
              signingKeyId: Type.String(),
            }),
          },
        },
      },
      async (request, reply) => {
        const tenantId = request.body.tenantId ?? principalOf(request).tenantId;
        let spki: Buffer;
        try {
          spki = createPublicKey(request.body.publicKeyPem).export({ format: 'der', type: 'spki' });
        } catch {
          throw problems.badRequest('publicKeyPem is not a public key');
        }
        const cert = await pki.service
          .signAgentCertificate({
            tenantId,
            agentId: request.body.agentId,
            publicKeySpkiDer: spki,
            commonName: request.body.commonName ?? request.body.agentId,
            ...(request.body.lifetimeDays ? { lifetimeDays: request.body.lifetimeDays } : {}),
          })
          .catch((err) => {
            if (isPkiError(err)) throw problems.badRequest(err.message);
            throw err;
          });
        const id = await withTenant(db, tenantId, (tx) =>
          pki.recordCertificate(tx, cert, { tenantId, agentId: request.body.agentId, kind: 'agent' }),
        );
        return reply.code(201).send({
          id,
          serialHex: cert.serialHex,
          fingerprint: cert.fingerprint,
          certPem: cert.certPem,
          chainPem: cert.chainPem,
          signingKeyId: cert.signingKeyId,
        });
      },
    );
  };
}
