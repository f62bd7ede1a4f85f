/**
 * A simulated OpAMP agent: connects over WebSocket or HTTP, reports its
 * status, follows the server's instructions and can inject faults.
 */
import { EventEmitter } from 'node:events';
import {
  AgentCapability as A,
  AgentToServerSchema,
  ComponentHealthSchema,
  ServerErrorResponseType,
  ServerToAgentSchema,
  configMapHash,
  create,
  fromBinary,
  has,
  toBinary,
  type AgentToServer,
  type ConnectionSettingsOffers,
  type ConnectionSettingsRequest,
  type EffectiveConfig,
  type ServerToAgent,
} from '@ampora/opamp';
import {
  effectiveConfigOf,
  initialStatus,
  type AgentStatus,
  type BuildOptions,
  type ConfigFiles,
  type HealthInit,
} from './agent-status';
import { createAgentCertificates, initialConnection } from './agent-certificates';
import type { AgentCredentials } from './agent-credentials';
import { actOn, type ApplyMode } from './agent-offers';
import { createAgentTransport } from './agent-transport';
import type { SimAgentEvents, SimAgentOptions } from './agent-options';
import { createMessageWaiters } from './message-waiters';
import {
  HttpStatusError,
  transportForUrl,
  type ConnectionOptions,
  type SimTransport,
  type TlsClientOptions,
  type TransportKind,
} from './transport';

export class SimAgent extends EventEmitter<SimAgentEvents> {
  readonly status: AgentStatus;
  /** The last 100 messages received, oldest first. */
  readonly received: ServerToAgent[] = [];
  applyMode: ApplyMode;
  serverCapabilities = 0n;
  heartbeatIntervalSeconds: number;
  lastRemoteConfigHash: Uint8Array | undefined;
  lastConnectionSettingsHash: Uint8Array | undefined;
  /** The client credentials in use (after enrollment), if any. */
  credentials: AgentCredentials | undefined;
  private connection: ConnectionOptions;
  private readonly certificates = createAgentCertificates({
    agent: this,
    connection: () => this.connection,
    stopping: () => this.stopping,
  });
  /** A connection-settings request to carry in the next message. */
  private pendingRequest: ConnectionSettingsRequest | undefined;
  private transport: SimTransport | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly waiters = createMessageWaiters();
  private inflight: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private retryAfterMs = 0;
  private stopping = false;

  constructor(readonly options: SimAgentOptions) {
    super();
    this.connection = initialConnection(options);
    this.credentials = options.credentials;
    this.applyMode = options.applyMode ?? 'apply';
    this.heartbeatIntervalSeconds = options.heartbeatIntervalSeconds ?? 30;
    this.status = initialStatus(options);
  }

  get instanceUid(): Uint8Array {
    return this.status.instanceUid;
  }
  /** The open transport's kind; the URL is parsed only when there is none (before a connect). */
  get transportKind(): TransportKind {
    return this.transport?.kind ?? this.kindForConnection();
  }
  private kindForConnection(): TransportKind {
    return this.options.transport ?? transportForUrl(this.connection.url);
  }
  get connected(): boolean {
    return this.transport?.isOpen ?? false;
  }
  get effectiveConfig(): EffectiveConfig | undefined {
    return this.status.sections.effectiveConfig;
  }
  /** SHA-256 (hex) of the effective config map, for comparing with what the server assigned. */
  get effectiveConfigHash(): string {
    return configMapHash(this.status.sections.effectiveConfig?.configMap);
  }

  /** Connects and sends the first (full) report; resolves once it is answered. */
  async start(): Promise<void> {
    this.stopping = false;
    await this.connect();
  }

  /** Sends agent_disconnect (when graceful and connected), then closes. */
  async stop(options: { graceful?: boolean } = {}): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    clearTimeout(this.reconnectTimer);
    this.certificates.cancelRenewal();
    this.reconnectTimer = undefined;
    if ((options.graceful ?? true) && this.transport?.isOpen) {
      await this.exchangeMessage({ disconnect: true }).catch(() => undefined);
    }
    await this.transport?.close();
    this.waiters.rejectAll(new Error('agent stopped'));
  }

  /** Closes the current connection and connects again, optionally with new URL, headers or TLS material. */
  async reconnect(update: Partial<ConnectionOptions> = {}): Promise<void> {
    this.connection = { ...this.connection, ...update };
    this.stopping = true;
    await this.transport?.close();
    this.stopping = false;
    if (this.options.fullStateOnReconnect ?? true) this.status.fullStatePending = true;
    await this.connect();
  }

  /** Sends a message now carrying whatever changed; resolves when answered. */
  report(options: BuildOptions = {}): Promise<ServerToAgent | undefined> {
    return this.exchangeMessage(options);
  }

  /** Sends a ConnectionSettingsRequest (the CSR flow's first step). */
  requestConnectionSettings(request: ConnectionSettingsRequest): Promise<ServerToAgent | undefined> {
    return this.exchangeMessage({ connectionSettingsRequest: request });
  }

  setHealth(health: HealthInit): void {
    this.status.set('health', create(ComponentHealthSchema, health));
  }
  setEffectiveConfig(files: ConfigFiles): void {
    this.status.set('effectiveConfig', effectiveConfigOf(files));
  }
  setCapabilities(capabilities: bigint): void {
    this.status.capabilities = capabilities;
  }

  /** Fault: the next message skips `n` sequence numbers. */
  skipSequenceNumbers(n = 1): void {
    this.status.skipSequenceNumbers(n);
  }
  /** Fault: sends bytes verbatim (a whole WS frame, header included, or a whole HTTP body). */
  sendRaw(bytes: Uint8Array): Promise<ServerToAgent | undefined> {
    return this.enqueue(() => this.exchange(() => this.requireTransport().sendRaw(bytes), false));
  }
  /** Fault: sends a WebSocket text frame. */
  sendText(text: string): Promise<void> {
    return this.requireTransport().sendText(text);
  }

  /** Resolves with the next received message that matches. */
  waitForMessage(
    match: (m: ServerToAgent) => boolean = () => true,
    timeoutMs?: number,
  ): Promise<ServerToAgent> {
    return this.waiters.wait(match, timeoutMs ?? this.options.replyTimeoutMs ?? 10_000);
  }

  /**
   * Asks for a new certificate now through the CSR flow (a fresh key, which never leaves the
   * agent). The server's offer arrives in the reply, and the agent switches to it.
   */
  async renewCertificate(): Promise<ServerToAgent | undefined> {
    await this.prepareCsr();
    return this.exchangeMessage();
  }

  // A method of the agent's own, not inlined: tests wrap it to tamper with the CSR before it is sent.
  private async prepareCsr(): Promise<void> {
    this.pendingRequest = await this.certificates.prepareCsr();
  }

  /**
   * Takes a certificate offered in connection settings: reconnects with it (mTLS) and keeps it
   * once that works; otherwise goes back to the previous connection and reports the failure.
   * Returns false when the offer carries no new certificate.
   */
  adoptCertificate(offers: ConnectionSettingsOffers): Promise<boolean> {
    return this.certificates.adopt(offers);
  }

  private async connect(): Promise<void> {
    if (this.certificates.csrDue) await this.prepareCsr();
    // The URL may have changed since the last transport was made (reconnect, adopted settings).
    this.transport = createAgentTransport(
      this.kindForConnection(),
      this.connection,
      this.options,
      () => this.instanceUid,
      {
        onPayload: (payload) => this.onPayload(payload),
        onProtocolError: (err) => this.emit('protocolError', err),
        onClose: (code, reason) => this.onClose(code, reason),
      },
    );
    await this.transport.open();
    this.emit('connected');
    await this.exchangeMessage();
  }

  private requireTransport(): SimTransport {
    if (!this.transport) throw new Error('agent is not started');
    return this.transport;
  }

  /** Serialises outbound traffic: HTTP is half-duplex, and WS replies are paired in order. */
  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Builds, sends and awaits the reply to the next AgentToServer. */
  exchangeMessage(options: BuildOptions = {}): Promise<ServerToAgent | undefined> {
    return this.enqueue(() => {
      // A pending request is kept until the server takes a message (see `process`), so one the
      // server could not handle (Unavailable) goes out again with the retry.
      const request = options.connectionSettingsRequest ?? this.pendingRequest;
      const msg: AgentToServer = this.status.next({ ...options, connectionSettingsRequest: request });
      return this.exchange(() => this.requireTransport().send(toBinary(AgentToServerSchema, msg)), true);
    });
  }

  private async exchange(
    io: () => Promise<Uint8Array | undefined>,
    paired: boolean,
  ): Promise<ServerToAgent | undefined> {
    const started = performance.now();
    const ws = this.transportKind === 'websocket';
    // Register before sending so a fast reply cannot slip past.
    const reply = ws && paired ? this.waitForMessage() : undefined;
    if (ws && paired) this.inflight.push(started);
    try {
      const body = await io();
      if (body) {
        this.options.latency?.record(performance.now() - started);
        return this.onPayload(body, false);
      }
      return reply ? await reply : undefined;
    } catch (err) {
      if (reply) {
        reply.catch(() => undefined);
        this.inflight.pop();
      }
      // What this message carried may be lost; resend everything next time.
      this.status.fullStatePending = true;
      if (err instanceof HttpStatusError) {
        this.retryAfterMs = err.retryAfterMs ?? 0;
        this.emit('httpError', err);
      }
      throw err;
    } finally {
      this.scheduleHeartbeat();
    }
  }

  private onPayload(payload: Uint8Array, fromSocket = true): ServerToAgent | undefined {
    if (fromSocket) {
      const sentAt = this.inflight.shift();
      if (sentAt !== undefined) this.options.latency?.record(performance.now() - sentAt);
    }
    let msg: ServerToAgent;
    try {
      msg = fromBinary(ServerToAgentSchema, payload);
    } catch (err) {
      this.emit('protocolError', err as Error);
      return undefined;
    }
    this.process(msg);
    return msg;
  }

  private process(msg: ServerToAgent): void {
    this.received.push(msg);
    if (this.received.length > 100) this.received.shift();
    this.waiters.deliver(msg);
    this.emit('message', msg);
    const err = msg.errorResponse;
    if (err) {
      if (
        err.type === ServerErrorResponseType.ServerErrorResponseType_Unavailable &&
        err.Details.case === 'retryInfo'
      ) {
        this.retryAfterMs = Number(err.Details.value.retryAfterNanoseconds / 1_000_000n);
      }
      this.emit('serverError', err);
      return;
    }
    this.pendingRequest = undefined;
    if (msg.capabilities !== 0n) this.serverCapabilities = msg.capabilities;
    // Like opamp-go clients, a command overrides everything else in the message.
    if (msg.command) {
      this.emit('command', msg.command);
      return;
    }
    actOn(this, msg);
  }

  /** Re-arms the heartbeat / poll timer: the interval runs from the last message sent. */
  scheduleHeartbeat(): void {
    clearTimeout(this.timer);
    if (this.stopping || !this.transport?.isOpen) return;
    const http = this.transportKind === 'http';
    let seconds = this.heartbeatIntervalSeconds;
    // An HTTP agent must keep polling; 0 only switches WebSocket heartbeats off.
    if (http && seconds <= 0) seconds = this.options.heartbeatIntervalSeconds || 30;
    if (!http && (seconds <= 0 || !has(this.status.capabilities, A.ReportsHeartbeat))) return;
    const delay = Math.max(seconds * 1000, this.retryAfterMs);
    this.retryAfterMs = 0;
    this.timer = setTimeout(() => {
      this.exchangeMessage({ omitCapabilities: this.options.omitCapabilitiesOnHeartbeat }).catch((e: Error) =>
        this.emit('transportError', e),
      );
    }, delay);
  }

  private onClose(code: number, reason: string): void {
    clearTimeout(this.timer);
    this.inflight = [];
    this.waiters.rejectAll(new Error(`connection closed with code ${code}`));
    this.emit('disconnected', { code, reason });
    if (!this.stopping && (this.options.reconnect ?? true)) this.scheduleReconnect();
  }

  /** Reconnects after a delay, retrying until it succeeds or the agent is stopped. */
  private scheduleReconnect(): void {
    if (this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.stopping) return;
      if (this.options.fullStateOnReconnect ?? true) this.status.fullStatePending = true;
      this.connect().catch((e: Error) => {
        this.emit('transportError', e);
        if (!this.stopping && !this.transport?.isOpen) this.scheduleReconnect();
      });
    }, this.options.reconnectDelayMs ?? 1_000);
  }
}

/** Creates a simulated agent; call `start()` to connect. */
export function createSimAgent(options: SimAgentOptions): SimAgent {
  return new SimAgent(options);
}

export type { ApplyMode, ConfigFiles, HealthInit, TlsClientOptions };
