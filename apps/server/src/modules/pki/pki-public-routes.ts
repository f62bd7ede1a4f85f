import type { FastifyInstance, FastifyReply } from 'fastify';
import { crlPem } from '@ampora/pki';
import { problems } from '../../http/problem.js';
import type { Pki } from './pki-service.js';

/** Large enough for any sane OCSP request; parseOcspRequest refuses more than 16 KiB anyway. */
const OCSP_BODY_LIMIT = 16 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const PUBLIC = (why: string) => ({ access: { anonymous: true as const, why } });

/**
 * The public PKI endpoints: CRLs, OCSP and the trust bundle. Relying parties reach them without
 * credentials, so they are anonymous; nothing here reveals more than a CRL would. An encapsulated
 * plugin, so its raw-body content-type parser applies to these routes only.
 */
export function pkiPublicRoutes(pki: Pki) {
  return async function routes(app: FastifyInstance) {
    app.addContentTypeParser(
      'application/ocsp-request',
      { parseAs: 'buffer', bodyLimit: OCSP_BODY_LIMIT },
      (_request, body, done) => done(null, body),
    );

    const sendCrl = async (reply: FastifyReply, keyId: string | undefined, format: 'der' | 'pem') => {
      const crl = await pki.crl(keyId);
      void reply
        .header('cache-control', 'public, max-age=60')
        .header('last-modified', crl.thisUpdate.toUTCString())
        .header('expires', crl.nextUpdate.toUTCString());
      return format === 'der'
        ? reply.type('application/pkix-crl').send(crl.der)
        : reply.type('application/x-pem-file').send(crlPem(crl.der));
    };

    app.get(
      '/pki/crl.der',
      { config: PUBLIC('CRL of the Active signing key; relying parties fetch it without credentials') },
      (_request, reply) => sendCrl(reply, undefined, 'der'),
    );
    app.get('/pki/crl.pem', { config: PUBLIC('CRL of the Active signing key, PEM') }, (_request, reply) =>
      sendCrl(reply, undefined, 'pem'),
    );
    app.get<{ Params: { file: string } }>(
      '/pki/crl/:file',
      { config: PUBLIC('CRL of one signing key, named in the CDP of the certificates it issued') },
      (request, reply) => {
        const match = /^([0-9a-f-]{36})\.(der|pem)$/.exec(request.params.file);
        if (!match || !UUID.test(match[1]!)) throw problems.notFound();
        return sendCrl(reply, match[1], match[2] as 'der' | 'pem');
      },
    );

    const sendOcsp = (reply: FastifyReply, response: Buffer) =>
      // Answers reflect the current state; caches must not hold on to them.
      reply.header('cache-control', 'no-cache').type('application/ocsp-response').send(response);

    app.post<{ Body: Buffer }>(
      '/pki/ocsp',
      { config: PUBLIC('OCSP responder (RFC 6960)') },
      async (request, reply) => {
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        return sendOcsp(reply, await pki.ocspRespond(body));
      },
    );
    app.get<{ Params: { '*': string } }>(
      '/pki/ocsp/*',
      { config: PUBLIC('OCSP responder, GET form (RFC 5019)') },
      async (request, reply) => {
        // The path is base64 of the DER request, URL-encoded; base64url is accepted too.
        let der: Buffer;
        try {
          der = Buffer.from(decodeURIComponent(request.params['*']), 'base64');
        } catch {
          der = Buffer.alloc(0);
        }
        return sendOcsp(reply, await pki.ocspRespond(der));
      },
    );

    app.get(
      '/pki/trust-bundle.pem',
      { config: PUBLIC('CA certificates agents must trust (Active and Trusted signing keys)') },
      async (_request, reply) =>
        reply
          .header('cache-control', 'public, max-age=60')
          .type('application/x-pem-file')
          .send(await pki.trustBundlePem()),
    );
  };
}
