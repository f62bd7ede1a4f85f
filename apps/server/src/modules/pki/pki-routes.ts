import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { principalOf } from '../../http/principal.js';
import { approvalActor } from '../approvals/approvals-routes.js';
import type { ApprovalsService } from '../approvals/approvals-service.js';
import { requestAuditContext } from '../audit/audit-recorder.js';
import type { Pki } from './pki-service.js';
import {
  BulkRevokeBody,
  BulkRevokeResult,
  Certificate,
  CertificateId,
  CertificateList,
  ImportBody,
  ListCertificatesQuery,
  ProposedSigningKey,
  RevokeBody,
  RotateBody,
  SigningKey,
  SigningKeyId,
  SigningKeyList,
} from './pki-schemas.js';

const AWAITING_APPROVAL =
  'The key is stored as a Draft and signs nothing until another Admin of the tenant approves the returned request (`POST /api/approvals/{id}/approve`); then it becomes Active and the current Active key becomes Trusted.';

/** The operator API of the CA: signing keys (Admin) and certificates (read: Viewer, revoke: Operator). */
export function pkiRoutes(pki: Pki, approvals: Pick<ApprovalsService, 'actor'>) {
  return async function routes(fastify: FastifyInstance) {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    const audit = (request: Parameters<typeof principalOf>[0]) =>
      requestAuditContext(request, principalOf(request));

    app.get(
      '/api/pki/signing-keys',
      {
        config: { access: { action: 'pki:read' } },
        schema: {
          tags: ['pki'],
          summary: 'List CA signing keys, newest first',
          response: { 200: SigningKeyList },
        },
      },
      async () => ({ items: await pki.listKeys() }),
    );

    app.post(
      '/api/pki/signing-keys/rotate',
      {
        config: { access: { action: 'pki:keys:write' } },
        schema: {
          tags: ['pki'],
          summary: 'Generate a new signing key as a Draft, awaiting a second Admin to activate it',
          description: AWAITING_APPROVAL,
          body: Type.Optional(RotateBody),
          response: { 202: ProposedSigningKey },
        },
      },
      async (request, reply) => {
        const actor = await approvalActor(approvals, request);
        return reply.code(202).send(await pki.rotate(actor, request.body?.keyAlgorithm));
      },
    );

    app.post(
      '/api/pki/signing-keys/import',
      {
        config: { access: { action: 'pki:keys:write' } },
        schema: {
          tags: ['pki'],
          summary: 'Import an external CA (PEM key and chain, or PKCS#12) as a Draft awaiting approval',
          description: AWAITING_APPROVAL,
          body: ImportBody,
          response: { 202: ProposedSigningKey },
        },
      },
      async (request, reply) => {
        const body = request.body;
        const input =
          'pkcs12' in body
            ? { pkcs12: Buffer.from(body.pkcs12.replace(/\s+/g, ''), 'base64'), password: body.password }
            : {
                certPem: body.certPem,
                keyPem: body.keyPem,
                ...(body.keyPassphrase !== undefined ? { keyPassphrase: body.keyPassphrase } : {}),
              };
        const actor = await approvalActor(approvals, request);
        return reply.code(202).send(await pki.importCa(actor, input));
      },
    );

    app.post(
      '/api/pki/signing-keys/:id/activate',
      {
        config: { access: { action: 'pki:keys:activate' } },
        schema: {
          tags: ['pki'],
          summary:
            'Ask again for the activation of a Draft key whose earlier request was rejected, cancelled or expired',
          description: `${AWAITING_APPROVAL} 409 when the key is not a Draft or a request is already pending.`,
          params: Type.Object({ id: SigningKeyId }),
          response: { 202: ProposedSigningKey },
        },
      },
      async (request, reply) => {
        const actor = await approvalActor(approvals, request);
        return reply.code(202).send(await pki.requestActivation(actor, request.params.id));
      },
    );

    app.post(
      '/api/pki/signing-keys/:id/retire',
      {
        config: { access: { action: 'pki:keys:write' } },
        schema: {
          tags: ['pki'],
          summary: 'Retire a Trusted signing key (it leaves the trust bundle), or discard a Draft',
          description:
            '409 for the Active key, and for a Draft whose activation request is still pending (reject or cancel it first).',
          params: Type.Object({ id: SigningKeyId }),
          response: { 200: SigningKey },
        },
      },
      async (request) => pki.retire(audit(request), request.params.id),
    );

    app.get(
      '/api/pki/certificates',
      {
        config: { access: { action: 'pki:read' } },
        schema: {
          tags: ['pki'],
          summary: "List the tenant's certificates",
          querystring: ListCertificatesQuery,
          response: { 200: CertificateList },
        },
      },
      async (request) => pki.listCertificates(principalOf(request).tenantId, request.query),
    );

    app.post(
      '/api/pki/certificates/:id/revoke',
      {
        config: { access: { action: 'pki:certs:revoke' } },
        schema: {
          tags: ['pki'],
          summary: 'Revoke a certificate: OCSP answers revoked at once, the CRL is republished',
          params: Type.Object({ id: CertificateId }),
          body: Type.Optional(RevokeBody),
          response: { 200: Certificate },
        },
      },
      async (request) => pki.revoke(audit(request), request.params.id, request.body?.reason ?? 'unspecified'),
    );

    app.post(
      '/api/pki/certificates/revoke',
      {
        config: { access: { action: 'pki:certs:revoke' } },
        schema: {
          tags: ['pki'],
          summary: 'Revoke up to 1,000 certificates in one audited action',
          body: BulkRevokeBody,
          response: { 200: BulkRevokeResult },
        },
      },
      async (request) =>
        pki.revokeMany(audit(request), request.body.ids, request.body.reason ?? 'unspecified'),
    );
  };
}
