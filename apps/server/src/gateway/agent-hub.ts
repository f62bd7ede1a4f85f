import {
  AgentCapability,
  AgentToServerFlag,
  ServerCapability,
  createAgentSession,
  errorResponse,
  has,
  type AgentProtocolState,
  type AgentSession,
  type OfferResult,
  type ServerToAgent,
  type SessionConfig,
  type ValidAgentToServer,
} from '@ampora/opamp';
import { withTenant, type Clock, type Database } from '@ampora/db';
import type { Logger } from '../observability/logger.js';
import type { AgentStateBuffer } from '../modules/agents/agent-state-buffer.js';
import { getAssignmentsByUid, setRemoteConfig } from '../modules/agents/agents-queries.js';
import type { Admitted, AgentIdentity, AgentTrust } from './agent-principal.js';
import { byTenant, createBatchLoader } from './batch-loader.js';
import { opampOffer } from './connection-offers.js';
import type { OpampMetrics } from './opamp-metrics.js';
import { buildRemoteConfig, configToResend, type RemoteConfigFiles } from './remote-config.js';
import { SectionDeduper, sectionsToPatch } from './status-sections.js';

/** The transport end of one agent: where replies and pushes go. */
export interface AgentPeer {
  readonly transport: 'websocket' | 'http';
  readonly remoteAddress: string;
  /** WebSocket only: sends an unsolicited ServerToAgent. */
  push?(msg: ServerToAgent): void;
  /** WebSocket only: closes the stream. */
  close?(code: number, reason: string): void;
}

interface Entry {
  key: string;
  tenantId: string;
  uidHex: string;
  session: AgentSession;
  dedupe: SectionDeduper;
  peer: AgentPeer;
  /** The latest admission (an HTTP agent is admitted again at every poll). */
  admitted: Admitted;
  /** `anonymous` or `agent:<id>`: an entry is only ever used by the principal that created it. */
  principalKey: string;
  identity?: AgentIdentity;
  /** Set until the bootstrap token of this enrollment session is redeemed. */
  enrolling: boolean;
  /** This stream redeemed a token: its offer already carried the heartbeat interval. */
  enrolledHere: boolean;
  renewal?: 'issuing' | 'offered' | 'failed';
  agentId?: string;
  assignedHash?: string;
  loaded: boolean;
  lastMessageAt: number;
  /** Messages of one agent are handled one at a time (the session's concurrency rule). */
  chain: Promise<unknown>;
}

/** A reply, and whether the stream (or HTTP connection) must be closed once it is sent. */
export interface HubReply {
  reply: ServerToAgent;
  close?: { code: number; reason: string };
}

const principalKeyOf = (identity: AgentIdentity | undefined) =>
  identity ? `agent:${identity.agentId}` : 'anonymous';
const hexOf = (uid: Uint8Array) => Buffer.from(uid).toString('hex');

export interface AgentHubDeps {
  db: Database;
  clock: Clock;
  logger: Logger;
  metrics: OpampMetrics;
  buffer: AgentStateBuffer;
  sessionConfig: Omit<SessionConfig, 'transport'>;
  newInstanceUid: () => Uint8Array;
  /** HTTP agents that have not polled for this long are marked disconnected (OpAMP C-6). */
  httpIdleMs: number;
  /** Above this many buffered agent writes, messages are answered Unavailable. */
  maxPendingWrites: number;
  retryAfterSeconds: number;
  /** The OpAMP URL agents should use, per transport; never empty in an offer (N-9). */
  opampEndpoint: (transport: 'websocket' | 'http') => string;
  heartbeatIntervalSeconds: number;
  /** A WebSocket that enrolled with a token is closed this long after it got its certificate. */
  enrollmentGraceMs?: number;
}

export type { RemoteConfigFiles };

export type AssignResult =
  | { status: 'pushed' | 'queued' | 'stored' }
  | { status: 'refused'; reason: string }
  | { status: 'not-found' };

/**
 * Every agent with a live session on this instance, keyed by tenant and instance_uid (never by
 * connection: one stream may carry several agents, and an HTTP agent has no stream at all). An
 * entry belongs to the principal that created it: an enrolled agent's entry is only ever used by
 * a connection proving that agent's identity, so no agent can take over another's session.
 */
export function createAgentHub(deps: AgentHubDeps) {
  const entries = new Map<string, Entry>();
  /** Protocol state outlives sessions, so a reconnecting agent may keep compressing. */
  const protocolStates = new Map<string, AgentProtocolState>();
  /** Live WebSocket streams and what they proved, so a revocation can close them at once. */
  const streams = new Map<AgentPeer, { admitted: Admitted; identity?: AgentIdentity }>();
  let trust: AgentTrust | undefined;
  const keyOf = (tenantId: string, uidHex: string) => `${tenantId}:${uidHex}`;

  /** Sessions per transport, kept in step with `entries` instead of walking it on every change. */
  const live = { websocket: 0, http: 0 };
  function track(entry: Entry, delta: 1 | -1) {
    live[entry.peer.transport] += delta;
    deps.metrics.activeSessions.set({ transport: entry.peer.transport }, live[entry.peer.transport]);
  }

  type AssignmentRow = Awaited<ReturnType<typeof getAssignmentsByUid>>[number];
  const assignments = createBatchLoader<string, AssignmentRow>(async (keys) => {
    const found = new Map<string, AssignmentRow>();
    for (const [tenantId, uids] of byTenant(keys)) {
      const rows = await withTenant(deps.db, tenantId, (tx) => getAssignmentsByUid(tx, uids));
      for (const row of rows) found.set(keyOf(tenantId, hexOf(row.instance_uid)), row);
    }
    return found;
  });

  function newEntry(admitted: Admitted, uid: Uint8Array, peer: AgentPeer, identity?: AgentIdentity): Entry {
    const uidHex = hexOf(uid);
    const key = keyOf(admitted.tenantId, uidHex);
    const serverCapabilities = trust
      ? deps.sessionConfig.serverCapabilities | ServerCapability.AcceptsConnectionSettingsRequest
      : deps.sessionConfig.serverCapabilities;
    const session = createAgentSession({
      config: { ...deps.sessionConfig, serverCapabilities, transport: peer.transport },
      instanceUid: uid,
      stored: protocolStates.get(key),
      now: () => deps.clock.now().getTime(),
      newInstanceUid: deps.newInstanceUid,
    });
    return {
      key,
      tenantId: admitted.tenantId,
      uidHex,
      session,
      dedupe: new SectionDeduper(),
      peer,
      admitted,
      principalKey: principalKeyOf(identity),
      identity,
      enrolling: admitted.agent.kind === 'bootstrap' && !identity,
      enrolledHere: false,
      loaded: false,
      lastMessageAt: 0,
      chain: Promise.resolve(),
    };
  }

  function release(entry: Entry, at: Date) {
    if (entries.get(entry.key) !== entry) return;
    entries.delete(entry.key);
    track(entry, -1);
    const state = entry.session.state;
    if (state) protocolStates.set(entry.key, state);
    deps.buffer.record({
      tenantId: entry.tenantId,
      instanceUid: entry.uidHex,
      seenAt: at,
      connected: false,
      disconnectedAt: at,
    });
  }

  /** Puts an entry under its key; a different holder of the key loses its session. */
  function register(entry: Entry, closeReason: string) {
    const existing = entries.get(entry.key);
    if (existing === entry) return;
    if (existing) {
      if (existing.peer !== entry.peer) existing.peer.close?.(1008, closeReason);
      const state = existing.session.state;
      if (state) protocolStates.set(existing.key, state);
      track(existing, -1);
    }
    entries.set(entry.key, entry);
    track(entry, 1);
  }

  async function loadAssignment(entry: Entry, reportedHash: Uint8Array | undefined) {
    const row = await assignments.load(entry.key);
    entry.loaded = true;
    if (!row) return;
    entry.agentId = row.id;
    entry.assignedHash = row.remote_config_hash ?? undefined;
    const resend = configToResend(row, reportedHash);
    if (resend) entry.session.offer({ kind: 'remoteConfig', remoteConfig: resend });
  }

  /**
   * Offers the configured heartbeat interval through OpAMP connection settings (N-25, N-26). An
   * enrolled agent's offer carries the certificate it already uses: an opamp offer without one
   * would tell it to stop presenting a client certificate, and lock it out.
   */
  function offerHeartbeat(entry: Entry) {
    const identity = entry.identity;
    const certificate = identity && trust ? trust.currentCertificate(identity) : undefined;
    if (identity && !certificate) return;
    entry.session.offer({
      kind: 'connectionSettings',
      connectionSettings: opampOffer({
        destinationEndpoint: deps.opampEndpoint(entry.peer.transport),
        heartbeatIntervalSeconds: deps.heartbeatIntervalSeconds,
        certificate: certificate && {
          certPem: Buffer.from(certificate.cert).toString(),
          caPem: Buffer.from(certificate.caCert).toString(),
        },
        serverCaPem: identity ? trust?.serverCaPem() : undefined,
      }),
    });
  }

  /** Pushes whatever is pending to a WebSocket agent, between two of its messages. */
  function pushLater(entry: Entry) {
    if (entry.peer.transport !== 'websocket') return;
    entry.chain = entry.chain.then(() => {
      if (entries.get(entry.key) !== entry) return;
      for (let m = entry.session.push(); m; m = entry.session.push()) entry.peer.push?.(m);
    });
  }

  /** Offers a new certificate with a server-generated key, once per session, off the reply path. */
  function startRenewal(entry: Entry, identity: AgentIdentity) {
    if (!trust) return;
    entry.renewal = 'issuing';
    trust.renew(entry.admitted, identity).then(
      (offer) => {
        entry.renewal = 'offered';
        if (!offer || entries.get(entry.key) !== entry) return;
        const offered = entry.session.offer({ kind: 'connectionSettings', connectionSettings: offer });
        if (offered.ok) pushLater(entry);
      },
      (err: unknown) => {
        entry.renewal = 'failed';
        deps.logger.error({ err, agent: identity.agentId }, 'certificate renewal failed');
      },
    );
  }

  function refuseImpersonation(
    admitted: Admitted,
    msg: ValidAgentToServer,
    boundUidHex: string | null,
    peer: AgentPeer,
    message: string,
  ): HubReply {
    deps.metrics.impersonationRefused.inc();
    deps.logger.warn(
      { claimed: hexOf(msg.instanceUid), bound: boundUidHex, remoteAddress: peer.remoteAddress },
      'refused a message claiming another agent',
    );
    trust?.impersonationRefused(admitted, hexOf(msg.instanceUid), boundUidHex);
    return {
      reply: errorResponse(msg.instanceUid, 'bad_request', message),
      close: { code: 1008, reason: 'instance_uid mismatch' },
    };
  }

  async function process(entry: Entry, msg: ValidAgentToServer): Promise<HubReply> {
    const now = deps.clock.now();
    const first = entry.lastMessageAt === 0;
    entry.lastMessageAt = now.getTime();

    // An anonymous agent may not use a uid an enrolled agent holds, even while that one is away.
    if (first && !entry.identity && !entry.enrolling && trust) {
      if (await trust.isBoundUid(entry.tenantId, entry.uidHex)) {
        if (entries.get(entry.key) === entry) {
          entries.delete(entry.key);
          track(entry, -1);
        }
        return refuseImpersonation(
          entry.admitted,
          msg,
          entry.uidHex,
          entry.peer,
          'this instance_uid belongs to an enrolled agent; connect with its client certificate',
        );
      }
    }

    const inbound = entry.session.receive(msg);

    if (deps.buffer.pending > deps.maxPendingWrites) {
      deps.metrics.framesRejected.inc({ reason: 'overloaded' });
      return {
        reply: inbound.reject('unavailable', 'server is busy; retry later', deps.retryAfterSeconds * 1000),
      };
    }

    const csr = inbound.connectionSettingsRequest?.opamp?.certificateRequest;
    const acceptsSettings = has(inbound.capabilities, AgentCapability.AcceptsOpAMPConnectionSettings);
    if (entry.enrolling) {
      const admitted = entry.admitted as Admitted & { agent: { kind: 'bootstrap' } };
      const result = await trust!.enroll(admitted, msg, inbound.newInstanceUid ?? msg.instanceUid);
      if (!result.ok) return { reply: inbound.reject('bad_request', result.message) };
      const { identity, offer } = result.value;
      entry.enrolling = false;
      entry.enrolledHere = true;
      // A new identity has no assignment yet, and the agent is about to reconnect with its
      // certificate, when its new session loads whatever is assigned by then.
      entry.loaded = true;
      entry.identity = identity;
      entry.principalKey = principalKeyOf(identity);
      const stream = streams.get(entry.peer);
      if (stream) {
        stream.identity = identity;
        const peer = entry.peer;
        setTimeout(
          () => peer.close?.(1000, 'enrolled; reconnect with the issued certificate'),
          deps.enrollmentGraceMs ?? 30_000,
        ).unref();
      }
      register(entry, 'instance_uid enrolled by another connection');
      entry.session.offer({ kind: 'connectionSettings', connectionSettings: offer });
    } else if (csr) {
      if (!entry.identity || !trust) {
        return {
          reply: inbound.reject(
            'bad_request',
            'a certificate is issued only with a bootstrap token or to an agent that presents its client certificate',
          ),
        };
      }
      if (!acceptsSettings) {
        return {
          reply: inbound.reject(
            'bad_request',
            'a certificate request needs the AcceptsOpAMPConnectionSettings capability',
          ),
        };
      }
      const result = await trust.renewWithCsr(entry.admitted, entry.identity, msg);
      if (!result.ok) return { reply: inbound.reject('bad_request', result.message) };
      entry.session.offer({ kind: 'connectionSettings', connectionSettings: result.value });
      entry.renewal = 'offered';
    }

    // A uid assigned in this reply is where the agent's state lives from now on.
    const uidHex = inbound.newInstanceUid ? hexOf(inbound.newInstanceUid) : entry.uidHex;
    if (uidHex !== entry.uidHex) {
      if (entries.get(entry.key) === entry) {
        entries.delete(entry.key);
        track(entry, -1);
      }
      entry.uidHex = uidHex;
      entry.key = keyOf(entry.tenantId, uidHex);
      register(entry, 'instance_uid taken over');
    }

    const patch = sectionsToPatch(
      {
        tenantId: entry.tenantId,
        instanceUid: uidHex,
        seenAt: now,
        sequenceNum: Number(inbound.sequenceNum),
        ...(inbound.capabilitiesChanged || first
          ? { capabilities: Number(inbound.capabilities) || undefined }
          : {}),
        ...(first
          ? {
              connected: true,
              transport: entry.peer.transport,
              remoteAddress: entry.peer.remoteAddress,
              connectedAt: now,
            }
          : {}),
      },
      entry.dedupe.changed(inbound.sections),
    );
    deps.buffer.record(patch);

    if (!entry.loaded) await loadAssignment(entry, inbound.sections.remoteConfigStatus?.lastRemoteConfigHash);
    if (inbound.heartbeatOfferDue && !entry.enrolledHere) offerHeartbeat(entry);

    const identity = entry.identity;
    if (identity && trust) {
      const status = inbound.sections.connectionSettingsStatus;
      if (status) trust.settingsStatus(entry.admitted, identity, status);
      // A CSR agent may also renew by sending a CSR itself; one that has not by now gets its key re-certified.
      if (
        !entry.renewal &&
        !entry.enrolledHere &&
        acceptsSettings &&
        now.getTime() >= identity.renewAt.getTime()
      ) {
        startRenewal(entry, identity);
      }
    }

    const reply = inbound.reply();
    if (inbound.disconnect) release(entry, now);
    return { reply };
  }

  /** An enrolled agent's uid is bound to its certificate; it is never reassigned (A-10 does not apply). */
  function withoutUidRequest(msg: ValidAgentToServer): ValidAgentToServer {
    if (!has(msg.flags, AgentToServerFlag.RequestInstanceUid)) return msg;
    return { ...msg, flags: msg.flags & ~AgentToServerFlag.RequestInstanceUid } as ValidAgentToServer;
  }

  return {
    get size() {
      return entries.size;
    },

    /** The gateway's metrics, shared with the trust layer. */
    get metrics() {
      return deps.metrics;
    },

    /** Lets the trust layer (enrollment, identities) take part; without it every agent is anonymous. */
    attachTrust(t: AgentTrust) {
      trust = t;
    },

    has(tenantId: string, uid: Uint8Array) {
      return entries.has(keyOf(tenantId, hexOf(uid)));
    },

    /** A WebSocket stream was admitted; remembered so that a revocation can close it before it speaks. */
    streamOpened(peer: AgentPeer, admitted: Admitted) {
      streams.set(peer, {
        admitted,
        identity: admitted.agent.kind === 'certificate' ? admitted.agent.identity : undefined,
      });
    },

    /**
     * Handles one validated message from `peer`, admitted as `admitted`. A second agent on the same
     * WebSocket (behind a proxy) gets a session of its own.
     */
    handle(admitted: Admitted, msg: ValidAgentToServer, peer: AgentPeer): Promise<HubReply> {
      const tenantId = admitted.tenantId;
      // A stream that redeemed its token speaks for the identity it created, and for nothing else.
      const identity =
        admitted.agent.kind === 'certificate' ? admitted.agent.identity : streams.get(peer)?.identity;
      if (identity) {
        // The identity is the certificate; the uid the message claims must be the one bound to it.
        if (hexOf(msg.instanceUid) !== identity.instanceUidHex) {
          return Promise.resolve(
            refuseImpersonation(
              admitted,
              msg,
              identity.instanceUidHex,
              peer,
              'instance_uid does not match the identity of the client certificate',
            ),
          );
        }
        msg = withoutUidRequest(msg);
      } else if (admitted.agent.kind === 'bootstrap') {
        if (!trust) {
          return Promise.resolve({
            reply: errorResponse(msg.instanceUid, 'bad_request', 'enrollment is off'),
          });
        }
        // Nothing is touched before the token is redeemed: the enrollment session stands alone.
        const entry = newEntry(admitted, msg.instanceUid, peer);
        const result = entry.chain.then(() => process(entry, msg));
        entry.chain = result.catch(() => {});
        return result;
      }

      const uidHex = hexOf(msg.instanceUid);
      const key = keyOf(tenantId, uidHex);
      const principalKey = principalKeyOf(identity);
      let entry = entries.get(key);
      if (entry && entry.principalKey !== principalKey) {
        // The uid is in use by another principal's live session, which stays untouched.
        return Promise.resolve(
          refuseImpersonation(
            admitted,
            msg,
            entry.identity?.instanceUidHex ?? null,
            peer,
            'this instance_uid is in use by another agent',
          ),
        );
      }
      // HTTP polls of one agent share its entry; only a new WebSocket stream replaces it.
      if (entry && entry.peer !== peer && !(entry.peer.transport === 'http' && peer.transport === 'http')) {
        // The agent came back on a new stream (or switched transport): the newer stream wins.
        if (entry.peer.transport === 'websocket')
          entry.peer.close?.(1000, 'agent reconnected on another stream');
        const state = entry.session.state;
        if (state) protocolStates.set(key, state);
        entries.delete(key);
        track(entry, -1);
        entry = undefined;
      }
      if (!entry) {
        entry = newEntry(admitted, msg.instanceUid, peer, identity);
        entries.set(key, entry);
        track(entry, 1);
      }
      entry.admitted = admitted;
      if (identity) entry.identity = identity;
      // An HTTP agent that enrolled in this entry now polls with its certificate: a normal session.
      if (admitted.agent.kind === 'certificate') entry.enrolledHere = false;
      const e = entry;
      const result = e.chain.then(() => process(e, msg));
      e.chain = result.catch(() => {});
      return result;
    },

    /** The stream closed: every agent on it is disconnected (C-5). */
    streamClosed(peer: AgentPeer) {
      streams.delete(peer);
      const at = deps.clock.now();
      for (const e of [...entries.values()]) if (e.peer === peer) release(e, at);
    },

    /**
     * A certificate stopped being valid (revoked, or superseded by a renewal): every session using
     * it ends now. WebSocket streams close; an HTTP agent's entry goes, and its next poll is refused.
     */
    closeCredential(fingerprint: string, reason: string): number {
      const at = deps.clock.now();
      let closed = 0;
      for (const [peer, stream] of [...streams]) {
        if (stream.identity?.fingerprint !== fingerprint) continue;
        peer.close?.(1008, reason);
        closed++;
      }
      for (const e of [...entries.values()]) {
        if (e.identity?.fingerprint !== fingerprint) continue;
        if (e.peer.transport === 'http') closed++;
        e.peer.close?.(1008, reason);
        release(e, at);
      }
      return closed;
    },

    /** WebSocket: unsolicited messages waiting for this agent (offers made between messages). */
    drain(tenantId: string, uid: Uint8Array): ServerToAgent[] {
      const e = entries.get(keyOf(tenantId, hexOf(uid)));
      const out: ServerToAgent[] = [];
      if (!e || e.peer.transport !== 'websocket') return out;
      for (let m = e.session.push(); m; m = e.session.push()) out.push(m);
      return out;
    },
    /** Closes sessions whose agents went silent (N-27) and forgets idle HTTP agents (C-6). */
    sweep() {
      const now = deps.clock.now();
      const t = now.getTime();
      for (const e of [...entries.values()]) {
        const staleAt = e.session.staleAt();
        const idle =
          e.peer.transport === 'http'
            ? t - e.lastMessageAt > deps.httpIdleMs
            : staleAt !== undefined && t > staleAt;
        if (!idle) continue;
        deps.logger.info({ agent: e.uidHex, transport: e.peer.transport }, 'closing silent agent session');
        e.peer.close?.(1000, 'heartbeat window elapsed');
        release(e, now);
      }
    },

    /**
     * Assigns a remote config to an agent and offers it at once: pushed over WebSocket, queued for the
     * next poll over HTTP, or stored for the next connection. The config map is never empty, since
     * the Collector's supervisor stops the Collector on an empty one.
     */
    async assignRemoteConfig(
      tenantId: string,
      agentId: string,
      files: RemoteConfigFiles,
    ): Promise<AssignResult> {
      const built = buildRemoteConfig(files);
      if (!built.ok) return { status: 'refused', reason: built.reason };
      const { remoteConfig, hashHex, json } = built;
      const row = await withTenant(deps.db, tenantId, (tx) => setRemoteConfig(tx, agentId, json, hashHex));
      if (!row) return { status: 'not-found' };
      const e = entries.get(keyOf(tenantId, hexOf(row.instance_uid)));
      if (!e) return { status: 'stored' };
      e.assignedHash = hashHex;
      const offered: OfferResult = e.session.offer({ kind: 'remoteConfig', remoteConfig });
      if (!offered.ok) return { status: 'refused', reason: offered.detail };
      if (e.peer.transport === 'websocket') {
        for (let m = e.session.push(); m; m = e.session.push()) e.peer.push?.(m);
        return { status: 'pushed' };
      }
      return { status: 'queued' };
    },

    /** Closes every session, recording the disconnects. */
    closeAll(reason: string) {
      const at = deps.clock.now();
      for (const e of [...entries.values()]) {
        e.peer.close?.(1001, reason);
        release(e, at);
      }
    },
  };
}

export type AgentHub = ReturnType<typeof createAgentHub>;
