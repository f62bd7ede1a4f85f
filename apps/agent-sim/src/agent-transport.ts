/**
 * The transport a simulated agent opens for its connection, with the
 * options that only one kind takes.
 */
import type { SimAgentOptions } from './agent-options';
import type { ConnectionOptions, SimTransport, TransportEvents, TransportKind } from './transport';
import { createHttpTransport } from './transport-http';
import { createWebSocketTransport } from './transport-ws';

/**
 * HTTP names the agent in every request, so it asks for the uid each time (the server may assign
 * a new one); WebSocket replies arrive as events.
 */
export function createAgentTransport(
  kind: TransportKind,
  connection: ConnectionOptions,
  options: Pick<SimAgentOptions, 'gzip' | 'compression' | 'connectTimeoutMs'>,
  instanceUid: () => Uint8Array,
  events: TransportEvents,
): SimTransport {
  if (kind === 'http') {
    return createHttpTransport({
      ...connection,
      gzip: options.gzip,
      instanceUid,
    });
  }
  return createWebSocketTransport(
    {
      ...connection,
      compression: options.compression,
      handshakeTimeoutMs: options.connectTimeoutMs,
    },
    events,
  );
}
