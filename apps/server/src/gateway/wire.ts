import {
  ServerToAgentSchema,
  create,
  encodeFrame,
  errorResponse,
  toBinary,
  type ServerToAgent,
} from '@ampora/opamp';
import type { Logger } from '../observability/logger.js';
import type { AgentHub } from './agent-hub.js';
import type { OpampMetrics } from './opamp-metrics.js';

/** What both OpAMP transports (WebSocket and plain HTTP) need. */
export interface TransportDeps {
  hub: AgentHub;
  logger: Logger;
  metrics: OpampMetrics;
  maxMessageBytes: number;
  /** Agents (on both transports) beyond which a new agent's first message is answered Unavailable. */
  maxSessions: number;
  retryAfterSeconds: number;
}

/**
 * Encodes a reply, enforcing the outbound size limit before any compression (T-13, T-21). A reply
 * over the limit is dropped and a bare ack carrying only the uid goes instead (T-14, T-22).
 */
export function encodeServerToAgent(
  msg: ServerToAgent,
  deps: Pick<TransportDeps, 'logger' | 'metrics' | 'maxMessageBytes'>,
): Uint8Array {
  const bytes = toBinary(ServerToAgentSchema, msg);
  if (bytes.length <= deps.maxMessageBytes) return bytes;
  deps.metrics.outboundDropped.inc();
  deps.logger.warn(
    { agent: Buffer.from(msg.instanceUid).toString('hex') },
    'outbound message over the size limit dropped',
  );
  return toBinary(ServerToAgentSchema, create(ServerToAgentSchema, { instanceUid: msg.instanceUid }));
}

export function frame(bytes: Uint8Array): Buffer {
  const framed = encodeFrame(bytes);
  return Buffer.from(framed.buffer, framed.byteOffset, framed.byteLength);
}

export const SERVER_FAILURE_MESSAGE = 'the server could not process this message; retry later';

/**
 * The answer to a message a failure of ours kept from being processed (the database is away, say):
 * nothing was taken, so the agent comes back later (HTTP agents honour the matching Retry-After).
 */
export function serverFailureReply(instanceUid: Uint8Array, retryAfterSeconds: number): ServerToAgent {
  return errorResponse(instanceUid, 'unavailable', SERVER_FAILURE_MESSAGE, retryAfterSeconds * 1000);
}
