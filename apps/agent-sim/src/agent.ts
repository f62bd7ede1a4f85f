/**
 * A simulated OpAMP agent: connects over WebSocket or HTTP, reports its
 * status, follows the server's instructions and can inject faults.
 */
import { EventEmitter } from 'node:events';
import { createPublicKey, randomBytes as nodeRandomBytes, X509Certificate } from 'node:crypto';
import {
  AgentCapability as A,
  AgentToServerSchema,
  ComponentHealthSchema,
  ConnectionSettingsRequestSchema,
  ServerErrorResponseType,
  ServerToAgentFlag,
  ServerToAgentSchema,
  create,
  createUuidV7Source,
  fromBinary,
  has,
  toBinary,
  uuidToString,
  type AgentToServer,
  type ConnectionSettingsOffers,
  type ConnectionSettingsRequest,
  type EffectiveConfig,
  type ServerToAgent,
} from '@ampora/opamp';
import {
  AgentStatus,
  DEFAULT_EFFECTIVE_CONFIG,
  configMapHash,
  defaultHealth,
  descriptionOf,
  effectiveConfigOf,
  type BuildOptions,
  type ConfigFiles,
  type HealthInit,
} from './agent-status';
import {
  createCsr,
  credentialsOf,
  generateAgentKey,
  type AgentCredentials,
  type AgentKey,
} from './agent-credentials';
import { applyConnectionSettings, applyPackages, applyRemoteConfig, type ApplyMode } from './agent-offers';
import { DEFAULT_CAPABILITIES, type SimAgentEvents, type SimAgentOptions } from './agent-options';
import {
  HttpStatusError,
  transportForUrl,
  type ConnectionOptions,
  type SimTransport,
  type TlsClientOptions,
  type TransportKind,
} from './transport';
import { createHttpTransport } from './transport-http';
import { createWebSocketTransport } from './transport-ws';

type Waiter = {
  match: (m: ServerToAgent) => boolean;
  resolve: (m: ServerToAgent) => void;
  reject: (e: Error) => void;
};

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
  /** The key of an outstanding CSR, waiting for its certificate. */
  private csrKey: AgentKey | undefined;
  /** A connection-settings request to carry in the next message. */
  private pendingRequest: ConnectionSettingsRequest | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private transport: SimTransport | undefined;
  private chain: Promise<void> = Promise.resolve();
  private waiters = new Set<Waiter>();
  private inflight: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private retryAfterMs = 0;
  private stopping = false;

  constructor(readonly options: SimAgentOptions) {
    super();
    const now = options.now ?? Date.now;
    const uid =
      options.instanceUid ??
      createUuidV7Source({ now, randomBytes: options.randomBytes ?? ((n) => nodeRandomBytes(n)) })();
    this.connection = {
      url: options.url,
      headers: options.headers,
      tls: options.tls,
      localAddress: options.localAddress,
    };
    this.credentials = options.credentials;
    if (options.credentials) {
      this.connection.tls = {
        ...this.connection.tls,
        cert: options.credentials.certPem,
        key: options.credentials.keyPem,
      };
    } else if (options.bootstrapToken) {
      this.connection.headers = {
        ...this.connection.headers,
        Authorization: `Bearer ${options.bootstrapToken}`,
      };
    }
    this.applyMode = options.applyMode ?? 'apply';
    this.heartbeatIntervalSeconds = options.heartbeatIntervalSeconds ?? 30;
    this.status = new AgentStatus(uid, options.capabilities ?? DEFAULT_CAPABILITIES);
    this.status.requestInstanceUid = options.requestInstanceUid ?? false;
    const startNanos = BigInt(now()) * 1_000_000n;
    this.status.set(
      'agentDescription',
      descriptionOf(
        {
          'service.name': 'io.ampora.agent-sim',
          'service.version': '0.1.0',
          'service.instance.id': uuidToString(uid),
          ...options.description?.identifying,
        },
        { 'os.type': 'linux', 'host.name': 'sim-host', ...options.description?.nonIdentifying },
      ),
    );
    this.status.set(
      'health',
      options.health ? create(ComponentHealthSchema, options.health) : defaultHealth(startNanos),
    );
    this.status.set(
      'effectiveConfig',
      effectiveConfigOf(options.effectiveConfig ?? DEFAULT_EFFECTIVE_CONFIG),
    );
    if (options.customCapabilities)
      this.status.set('customCapabilities', {
        $typeName: 'opamp.proto.v1.CustomCapabilities',
        capabilities: options.customCapabilities,
      });
  }

  get instanceUid(): Uint8Array {
    return this.status.instanceUid;
  }
  get transportKind(): TransportKind {
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
    clearTimeout(this.renewTimer);
    this.reconnectTimer = undefined;
    if ((options.graceful ?? true) && this.transport?.isOpen) {
      await this.exchangeMessage({ disconnect: true }).catch(() => undefined);
    }
    await this.transport?.close();
    this.rejectWaiters(new Error('agent stopped'));
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
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(
        () => {
          this.waiters.delete(waiter);
          reject(new Error('timed out waiting for a ServerToAgent'));
        },
        timeoutMs ?? this.options.replyTimeoutMs ?? 10_000,
      );
      this.waiters.add(waiter);
    });
  }

  /**
   * Asks for a new certificate now through the CSR flow (a fresh key, which never leaves the
   * agent). The server's offer arrives in the reply, and the agent switches to it.
   */
  async renewCertificate(): Promise<ServerToAgent | undefined> {
    await this.prepareCsr();
    return this.exchangeMessage();
  }

  private async prepareCsr(): Promise<void> {
    this.csrKey = await generateAgentKey(this.options.keyType ?? 'ec');
    const csr = await createCsr(this.instanceUid, this.csrKey, { claimUid: this.options.csrClaimUid });
    this.pendingRequest = create(ConnectionSettingsRequestSchema, {
      opamp: { certificateRequest: { csr: new TextEncoder().encode(csr) } },
    });
  }

  /**
   * Takes a certificate offered in connection settings: reconnects with it (mTLS) and keeps it
   * once that works; otherwise goes back to the previous connection and reports the failure.
   * Returns false when the offer carries no new certificate.
   */
  async adoptCertificate(offers: ConnectionSettingsOffers): Promise<boolean> {
    const offered = offers.opamp?.certificate;
    if (!offered || offered.cert.length === 0) return false;
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    const certPem = decode(offered.cert);
    if (certPem === this.credentials?.certPem) return false;
    const serverKey = offered.privateKey.length > 0;
    const keyPem = serverKey ? decode(offered.privateKey) : this.keyForOfferedCertificate(certPem);
    const next = credentialsOf(certPem, keyPem, decode(offered.caCert), serverKey ? 'server' : 'csr');
    const previous = { ...this.connection };
    const headers = Object.fromEntries(
      Object.entries(this.connection.headers ?? {}).filter(
        ([name]) => name.toLowerCase() !== 'authorization',
      ),
    );
    const serverCa = offers.opamp?.tls?.caPemContents;
    const tls = { ...this.connection.tls, cert: certPem, key: keyPem, ...(serverCa ? { ca: serverCa } : {}) };
    const url = offers.opamp?.destinationEndpoint || this.connection.url;
    try {
      await this.reconnect({ url, headers, tls });
    } catch (err) {
      // Keep what worked: the old certificate stays valid until the new one has been used.
      if (this.credentials) await this.reconnect(previous).catch(() => undefined);
      throw err;
    }
    this.credentials = next;
    this.csrKey = undefined;
    this.emit('credentials', next);
    this.scheduleRenewal();
    return true;
  }

  /**
   * The private key that belongs to a certificate offered without one: the key of an outstanding
   * CSR, or (a renewal the server started) the key already in use. A certificate for any other key
   * is refused, as a real agent must: it could never complete a handshake with it.
   */
  private keyForOfferedCertificate(certPem: string): string {
    const offeredKey = new X509Certificate(certPem).publicKey;
    for (const keyPem of [this.csrKey?.privateKeyPem, this.credentials?.keyPem]) {
      if (keyPem && createPublicKey(keyPem).equals(offeredKey)) return keyPem;
    }
    throw new Error('the offered certificate carries no key and names none of the keys this agent holds');
  }

  /** CSR agents renew themselves; server-keyed agents wait for the server's offer. */
  private scheduleRenewal(): void {
    clearTimeout(this.renewTimer);
    const c = this.credentials;
    if (!c || c.keyOrigin !== 'csr' || this.stopping) return;
    const life = c.notAfter.getTime() - c.notBefore.getTime();
    const at = c.notBefore.getTime() + life * (this.options.renewAtFraction ?? 2 / 3);
    this.renewTimer = setTimeout(
      () => void this.renewCertificate().catch((e: Error) => this.emit('transportError', e)),
      Math.max(0, Math.min(at - Date.now(), 2_147_483_647)),
    );
    this.renewTimer.unref();
  }

  private async connect(): Promise<void> {
    if (this.options.bootstrapToken && !this.credentials && this.options.csr && !this.csrKey) {
      await this.prepareCsr();
    }
    this.transport = this.createTransport();
    await this.transport.open();
    this.emit('connected');
    await this.exchangeMessage();
  }

  private createTransport(): SimTransport {
    if (this.transportKind === 'http') {
      return createHttpTransport({
        ...this.connection,
        gzip: this.options.gzip,
        instanceUid: () => this.instanceUid,
      });
    }
    return createWebSocketTransport(
      {
        ...this.connection,
        compression: this.options.compression,
        handshakeTimeoutMs: this.options.connectTimeoutMs,
      },
      {
        onPayload: (payload) => this.onPayload(payload),
        onProtocolError: (err) => this.emit('protocolError', err),
        onClose: (code, reason) => this.onClose(code, reason),
      },
    );
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
    for (const w of this.waiters) {
      if (w.match(msg)) {
        this.waiters.delete(w);
        w.resolve(msg);
      }
    }
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
    const newUid = msg.agentIdentification?.newInstanceUid;
    if (newUid?.length === 16) {
      const previous = this.status.instanceUid;
      this.status.instanceUid = newUid;
      this.status.requestInstanceUid = false;
      this.emit('instanceUidChanged', { previous, current: newUid });
    }
    let followUp = false;
    if (msg.flags & ServerToAgentFlag.ReportFullState) {
      this.status.fullStatePending = true;
      followUp = true;
    }
    if (msg.flags & ServerToAgentFlag.ReportAvailableComponents) followUp = true;
    const caps = this.status.capabilities;
    const background = (p: Promise<unknown>) => p.catch((e: Error) => this.emit('transportError', e));
    if (msg.remoteConfig && has(caps, A.AcceptsRemoteConfig))
      background(applyRemoteConfig(this, msg.remoteConfig));
    if (msg.connectionSettings) background(applyConnectionSettings(this, msg.connectionSettings));
    if (msg.packagesAvailable && has(caps, A.AcceptsPackages))
      followUp = applyPackages(this, msg.packagesAvailable) || followUp;
    if (msg.customMessage) this.emit('customMessage', msg.customMessage);
    if (followUp) background(this.exchangeMessage());
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
    this.rejectWaiters(new Error(`connection closed with code ${code}`));
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

  private rejectWaiters(err: Error): void {
    for (const w of this.waiters) w.reject(err);
    this.waiters.clear();
  }
}

/** Creates a simulated agent; call `start()` to connect. */
export function createSimAgent(options: SimAgentOptions): SimAgent {
  return new SimAgent(options);
}

export type { ApplyMode, ConfigFiles, HealthInit, TlsClientOptions };
