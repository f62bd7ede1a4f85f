import {
  AgentToServerFlag,
  ServerCapability,
  createAgentSession,
  errorResponse,
  has,
  type Inbound,
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
import {
  createHubSessions,
  hexOf,
  keyOf,
  principalKeyOf,
  type AgentPeer,
  type HubEntry,
  type HubReply,
  type HubStream,
} from './hub-sessions.js';
import { createHubTrust } from './hub-trust.js';
import type { OpampMetrics } from './opamp-metrics.js';
import { buildRemoteConfig, configToResend, type RemoteConfigFiles } from './remote-config.js';
import { SectionDeduper, sectionsToPatch } from './status-sections.js';
import { SERVER_FAILURE_MESSAGE, serverFailureReply } from './wire.js';

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
  /** A WebSocket that enrolled with a token is closed this long after it got its certificate. */
  enrollmentGraceMs?: number;
}

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
  /** Live WebSocket streams and what they proved, so a revocation can close them at once. */
  const streams = new Map<AgentPeer, HubStream>();
  const sessions = createHubSessions({ ...deps, streams });
  const trust = createHubTrust({ ...deps, sessions, streams, pushLater });

  type AssignmentRow = Awaited<ReturnType<typeof getAssignmentsByUid>>[number];
  const assignments = createBatchLoader<string, AssignmentRow>(async (keys) => {
    const found = new Map<string, AssignmentRow>();
    for (const [tenantId, uids] of byTenant(keys)) {
      const rows = await withTenant(deps.db, tenantId, (tx) => getAssignmentsByUid(tx, uids));
      for (const row of rows) found.set(keyOf(tenantId, hexOf(row.instance_uid)), row);
    }
    return found;
  });

  function newEntry(
    admitted: Admitted,
    uid: Uint8Array,
    uidHex: string,
    peer: AgentPeer,
    identity?: AgentIdentity,
  ): HubEntry {
    const key = keyOf(admitted.tenantId, uidHex);
    const serverCapabilities = trust.attached
      ? deps.sessionConfig.serverCapabilities | ServerCapability.AcceptsConnectionSettingsRequest
      : deps.sessionConfig.serverCapabilities;
    const session = createAgentSession({
      config: { ...deps.sessionConfig, serverCapabilities, transport: peer.transport },
      // Decoded bytes fields are views into the whole message buffer: the copy keeps only the uid.
      instanceUid: uid.slice(),
      stored: sessions.storedState(key),
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

  async function loadAssignment(entry: HubEntry, reportedHash: Uint8Array | undefined) {
    const row = await assignments.load(entry.key);
    entry.loaded = true;
    if (!row) return;
    entry.agentId = row.id;
    entry.assignedHash = row.remote_config_hash ?? undefined;
    const resend = configToResend(row, reportedHash);
    if (resend) entry.session.offer({ kind: 'remoteConfig', remoteConfig: resend });
  }

  function pushNow(entry: HubEntry) {
    for (let m = entry.session.push(); m; m = entry.session.push()) entry.peer.push?.(m);
  }

  /** Pushes whatever is pending to a WebSocket agent, between two of its messages. */
  function pushLater(entry: HubEntry) {
    if (entry.peer.transport !== 'websocket') return;
    entry.chain = entry.chain.then(() => {
      if (sessions.isCurrent(entry)) pushNow(entry);
    });
  }

  /** Runs one message after the agent's previous one (the session's concurrency rule). */
  function queue(entry: HubEntry, msg: ValidAgentToServer): Promise<HubReply> {
    const result = entry.chain.then(() => process(entry, msg));
    entry.chain = result.catch(() => {});
    return result;
  }

  async function process(entry: HubEntry, msg: ValidAgentToServer): Promise<HubReply> {
    const now = deps.clock.now();
    const previousMessageAt = entry.lastMessageAt;
    const first = previousMessageAt === 0;
    entry.lastMessageAt = now.getTime();

    let inbound: Inbound | undefined;
    try {
      if (
        first &&
        !entry.identity &&
        !entry.enrolling &&
        (await trust.isBoundUid(entry.tenantId, entry.uidHex))
      ) {
        sessions.detach(entry, { keepState: false });
        return trust.refuseImpersonation(
          entry.admitted,
          msg,
          entry.uidHex,
          entry.peer,
          'this instance_uid belongs to an enrolled agent; connect with its client certificate',
        );
      }
      inbound = entry.session.receive(msg);
      return await afterReceive(entry, msg, inbound, now, first);
    } catch (err) {
      // A failure of ours (the database is away, say) must not leave the session waiting for a
      // reply it will never send: the agent is told to come back later, with its full state.
      deps.logger.error(
        { err, agent: entry.uidHex, tenantId: entry.tenantId },
        'OpAMP message could not be processed',
      );
      deps.metrics.framesRejected.inc({ reason: 'server_error' });
      // A message the session never took did not happen: the next one is checked as the first,
      // so a failed check of whether its uid belongs to an enrolled agent is made again.
      if (!inbound) entry.lastMessageAt = previousMessageAt;
      return {
        reply: inbound
          ? inbound.reject('unavailable', SERVER_FAILURE_MESSAGE, deps.retryAfterSeconds * 1000)
          : serverFailureReply(msg.instanceUid, deps.retryAfterSeconds),
      };
    }
  }

  async function afterReceive(
    entry: HubEntry,
    msg: ValidAgentToServer,
    inbound: Inbound,
    now: Date,
    first: boolean,
  ): Promise<HubReply> {
    if (deps.buffer.pending > deps.maxPendingWrites) {
      deps.metrics.framesRejected.inc({ reason: 'overloaded' });
      return {
        reply: inbound.reject('unavailable', 'server is busy; retry later', deps.retryAfterSeconds * 1000),
      };
    }

    const refused = await trust.certificateStep(entry, inbound, msg);
    if (refused) return refused;

    // A uid assigned in this reply is where the agent's state lives from now on.
    const uidHex = inbound.newInstanceUid ? hexOf(inbound.newInstanceUid) : entry.uidHex;
    if (uidHex !== entry.uidHex) {
      sessions.detach(entry, { keepState: false });
      entry.uidHex = uidHex;
      entry.key = keyOf(entry.tenantId, uidHex);
      sessions.register(entry, 'instance_uid taken over');
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
    if (inbound.heartbeatOfferDue && !entry.enrolledHere) trust.offerHeartbeat(entry);
    trust.afterMessage(entry, inbound, now);

    const reply = inbound.reply();
    if (inbound.disconnect) sessions.release(entry, now);
    return { reply };
  }

  /** An enrolled agent's uid is bound to its certificate; it is never reassigned (A-10 does not apply). */
  function withoutUidRequest(msg: ValidAgentToServer): ValidAgentToServer {
    if (!has(msg.flags, AgentToServerFlag.RequestInstanceUid)) return msg;
    return { ...msg, flags: msg.flags & ~AgentToServerFlag.RequestInstanceUid } as ValidAgentToServer;
  }

  return {
    get size() {
      return sessions.size;
    },

    /** The gateway's metrics, shared with the trust layer. */
    get metrics() {
      return deps.metrics;
    },

    /** Lets the trust layer (enrollment, identities) take part; without it every agent is anonymous. */
    attachTrust(t: AgentTrust) {
      trust.attach(t);
    },

    /**
     * Unavailable for a message from an agent without a session here once `limits.maxSessions` agents
     * have one; checked per message, since one stream may carry a new agent later.
     */
    sessionLimitReply(
      tenantId: string,
      uid: Uint8Array,
      limits: { maxSessions: number; retryAfterSeconds: number },
    ): ServerToAgent | undefined {
      if (sessions.size < limits.maxSessions || sessions.get(keyOf(tenantId, hexOf(uid)))) return undefined;
      deps.metrics.connectionsRefused.inc({ reason: 'max_sessions' });
      return errorResponse(
        uid,
        'unavailable',
        'server is at its session limit',
        limits.retryAfterSeconds * 1000,
      );
    },

    /** A WebSocket stream was admitted; remembered so that a revocation can close it before it speaks. */
    streamOpened(peer: AgentPeer, admitted: Admitted) {
      streams.set(peer, {
        identity: admitted.agent.kind === 'certificate' ? admitted.agent.identity : undefined,
        entries: new Set(),
      });
    },

    /**
     * Handles one validated message from `peer`, admitted as `admitted`. A second agent on the same
     * WebSocket (behind a proxy) gets a session of its own.
     */
    handle(admitted: Admitted, msg: ValidAgentToServer, peer: AgentPeer): Promise<HubReply> {
      const tenantId = admitted.tenantId;
      const uidHex = hexOf(msg.instanceUid);
      // A stream that redeemed its token speaks for the identity it created, and for nothing else.
      const identity =
        admitted.agent.kind === 'certificate' ? admitted.agent.identity : streams.get(peer)?.identity;
      if (identity) {
        // The identity is the certificate; the uid the message claims must be the one bound to it.
        if (uidHex !== identity.instanceUidHex) {
          return Promise.resolve(
            trust.refuseImpersonation(
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
        if (!trust.attached) {
          return Promise.resolve({
            reply: errorResponse(msg.instanceUid, 'bad_request', 'enrollment is off'),
          });
        }
        // Nothing is touched before the token is redeemed: the enrollment session stands alone.
        return queue(newEntry(admitted, msg.instanceUid, uidHex, peer), msg);
      }

      const key = keyOf(tenantId, uidHex);
      const principalKey = principalKeyOf(identity);
      let entry = sessions.get(key);
      if (entry && entry.principalKey !== principalKey) {
        // The uid is in use by another principal's live session, which stays untouched.
        return Promise.resolve(
          trust.refuseImpersonation(
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
        sessions.detach(entry, { keepState: true });
        entry = undefined;
      }
      if (!entry) {
        entry = newEntry(admitted, msg.instanceUid, uidHex, peer, identity);
        sessions.register(entry, 'agent reconnected on another stream');
      }
      entry.admitted = admitted;
      if (identity) entry.identity = identity;
      // An HTTP agent that enrolled in this entry now polls with its certificate: a normal session.
      if (admitted.agent.kind === 'certificate') entry.enrolledHere = false;
      return queue(entry, msg);
    },

    /** The stream closed: every agent on it is disconnected (C-5). */
    streamClosed(peer: AgentPeer) {
      const stream = streams.get(peer);
      streams.delete(peer);
      const at = deps.clock.now();
      // Releasing an entry takes it out of the set being walked.
      for (const e of [...(stream?.entries ?? [])]) sessions.release(e, at);
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
      for (const e of sessions.all()) {
        if (e.identity?.fingerprint !== fingerprint) continue;
        if (e.peer.transport === 'http') closed++;
        e.peer.close?.(1008, reason);
        sessions.release(e, at);
      }
      return closed;
    },

    /** WebSocket: unsolicited messages waiting for this agent (offers made between messages). */
    drain(tenantId: string, uid: Uint8Array): ServerToAgent[] {
      const e = sessions.get(keyOf(tenantId, hexOf(uid)));
      const out: ServerToAgent[] = [];
      if (!e || e.peer.transport !== 'websocket') return out;
      for (let m = e.session.push(); m; m = e.session.push()) out.push(m);
      return out;
    },
    /** Closes sessions whose agents went silent (N-27) and forgets idle HTTP agents (C-6). */
    sweep() {
      const now = deps.clock.now();
      const t = now.getTime();
      for (const e of sessions.all()) {
        const staleAt = e.session.staleAt();
        const idle =
          e.peer.transport === 'http'
            ? t - e.lastMessageAt > deps.httpIdleMs
            : staleAt !== undefined && t > staleAt;
        if (!idle) continue;
        deps.logger.info({ agent: e.uidHex, transport: e.peer.transport }, 'closing silent agent session');
        e.peer.close?.(1000, 'heartbeat window elapsed');
        sessions.release(e, now);
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
      const e = sessions.get(keyOf(tenantId, hexOf(row.instance_uid)));
      if (!e) return { status: 'stored' };
      e.assignedHash = hashHex;
      const offered: OfferResult = e.session.offer({ kind: 'remoteConfig', remoteConfig });
      if (!offered.ok) return { status: 'refused', reason: offered.detail };
      if (e.peer.transport === 'websocket') {
        pushNow(e);
        return { status: 'pushed' };
      }
      return { status: 'queued' };
    },

    /** Closes every session, recording the disconnects. */
    closeAll(reason: string) {
      const at = deps.clock.now();
      for (const e of sessions.all()) {
        e.peer.close?.(1001, reason);
        sessions.release(e, at);
      }
    },
  };
}

export type AgentHub = ReturnType<typeof createAgentHub>;
