import type { IncomingMessage, ServerResponse } from 'node:http';
import { createGunzip, gzipSync } from 'node:zlib';
import {
  badRequestFor,
  decodeAgentToServer,
  errorResponse,
  uuidFromString,
  type ServerToAgent,
} from '@ampora/opamp';
import type { Admitted } from './agent-principal.js';
import type { AgentPeer, HubReply } from './hub-sessions.js';
import { encodeServerToAgent, serverFailureReply, type TransportDeps } from './wire.js';

export const PROTOBUF = 'application/x-protobuf';

class TooLarge extends Error {}

/** Reads the body, inflating gzip, and stops as soon as the decompressed size passes the limit (T-17, T-19). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding !== 'identity' && encoding !== 'gzip') {
      reject(new Error(`unsupported content-encoding ${encoding}`));
      return;
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (encoding === 'identity' && declared > limit) {
      reject(new TooLarge());
      return;
    }
    const source = encoding === 'gzip' ? req.pipe(createGunzip()) : req;
    const chunks: Buffer[] = [];
    let size = 0;
    source.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        source.destroy();
        req.resume();
        reject(new TooLarge());
        return;
      }
      chunks.push(c);
    });
    source.on('end', () => resolve(Buffer.concat(chunks)));
    source.on('error', (err) => reject(err));
  });
}

/**
 * OpAMP over plain HTTP: one POST, one ServerToAgent (T-23). Offers wait for the next poll (S-12).
 * Errors that the protocol can carry travel as a protobuf ServerErrorResponse with the HTTP status.
 */
export function createHttpTransport(deps: TransportDeps) {
  function respond(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    msg: ServerToAgent,
    headers: Record<string, string> = {},
  ) {
    const body = encodeServerToAgent(msg, deps);
    const out: Record<string, string | number> = { 'content-type': PROTOBUF, ...headers };
    let payload = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    if (/\bgzip\b/i.test(String(req.headers['accept-encoding'] ?? '')) && payload.length > 512) {
      payload = gzipSync(payload); // T-18
      out['content-encoding'] = 'gzip';
    }
    out['content-length'] = payload.length;
    res.writeHead(status, out).end(payload);
  }

  function headerUid(req: IncomingMessage): Uint8Array {
    const raw = req.headers['opamp-instance-uid'];
    if (typeof raw !== 'string') return new Uint8Array(0);
    try {
      return uuidFromString(raw);
    } catch {
      return new Uint8Array(0);
    }
  }

  return async function handle(req: IncomingMessage, res: ServerResponse, admitted: Admitted) {
    const tenantId = admitted.tenantId;
    const started = process.hrtime.bigint();
    deps.metrics.framesReceived.inc({ transport: 'http' });
    const fallbackUid = headerUid(req);
    let body: Buffer;
    try {
      body = await readBody(req, deps.maxMessageBytes);
    } catch (err) {
      if (err instanceof TooLarge) {
        deps.metrics.framesRejected.inc({ reason: 'too_large' });
        deps.logger.info({ remoteAddress: req.socket.remoteAddress }, 'OpAMP request body over the limit');
        res.writeHead(413, { connection: 'close' }).end(); // T-20
        return;
      }
      deps.metrics.framesRejected.inc({ reason: 'malformed' });
      respond(
        req,
        res,
        400,
        errorResponse(
          fallbackUid,
          'bad_request',
          (err as Error).message.startsWith('unsupported')
            ? (err as Error).message
            : 'request body could not be read',
        ),
      );
      return;
    }
    const decoded = decodeAgentToServer(body, { maxBytes: deps.maxMessageBytes });
    if (!decoded.ok) {
      deps.metrics.framesRejected.inc({ reason: decoded.reason });
      deps.logger.info(
        { reason: decoded.reason, remoteAddress: req.socket.remoteAddress },
        'OpAMP message rejected',
      );
      respond(req, res, 400, badRequestFor(decoded, fallbackUid));
      return;
    }
    const msg = decoded.msg;
    const full = deps.hub.sessionLimitReply(tenantId, msg.instanceUid, deps);
    if (full) {
      respond(req, res, 503, full, { 'retry-after': String(deps.retryAfterSeconds) });
      return;
    }
    const peer: AgentPeer = { transport: 'http', remoteAddress: admitted.remoteAddress };
    let handled: HubReply;
    try {
      handled = await deps.hub.handle(admitted, msg, peer);
    } catch (err) {
      // The hub answers its own failures; this is the last resort for one before it took the message.
      deps.logger.error({ err, remoteAddress: admitted.remoteAddress }, 'OpAMP poll could not be processed');
      deps.metrics.framesRejected.inc({ reason: 'server_error' });
      handled = { reply: serverFailureReply(msg.instanceUid, deps.retryAfterSeconds) };
    }
    const { reply, close } = handled;
    if (close) res.setHeader('connection', 'close');
    const status = reply.errorResponse ? (reply.errorResponse.Details.case === 'retryInfo' ? 503 : 400) : 200;
    const retryHeader: Record<string, string> =
      reply.errorResponse?.Details.case === 'retryInfo'
        ? {
            'retry-after': String(
              Math.ceil(Number(reply.errorResponse.Details.value.retryAfterNanoseconds / 1_000_000_000n)),
            ),
          }
        : {};
    respond(req, res, status, reply, retryHeader);
    deps.metrics.replySeconds.observe({ transport: 'http' }, Number(process.hrtime.bigint() - started) / 1e9);
  };
}
