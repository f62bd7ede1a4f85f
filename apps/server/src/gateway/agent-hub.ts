import { createHash } from 'node:crypto';
import {
  AgentConfigMapSchema,
  AgentRemoteConfigSchema,
  ConnectionSettingsOffersSchema,
  createAgentSession,
  create,
  type AgentProtocolState,
  type AgentSession,
  type OfferResult,
  type ServerToAgent,
  type SessionConfig,
  type ValidAgentToServer,
} from '@ampora/opamp';
import { fromJson, toJson } from '@bufbuild/protobuf';
import { withTenant, type Clock, type Database } from '@ampora/db';
import type { Logger } from '../observability/logger.js';
import type { AgentStateBuffer } from '../modules/agents/agent-state-buffer.js';
import { getAgentByUid, setRemoteConfig } from '../modules/agents/agents-queries.js';
import type { OpampMetrics } from './opamp-metrics.js';
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
  agentId?: string;
  assignedHash?: string;
  loaded: boolean;
  lastMessageAt: number;
  /** Messages of one agent are handled one at a time (the session's concurrency rule). */
  chain: Promise<unknown>;
}

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
}

export type RemoteConfigFiles = Record<string, { body: Buffer; contentType: string }>;

export type AssignResult =
  | { status: 'pushed' | 'queued' | 'stored' }
  | { status: 'refused'; reason: string }
  | { status: 'not-found' };

/**
 * Every agent with a live session on this instance, keyed by tenant and instance_uid (never by
 * connection: one stream may carry several agents, and an HTTP agent has no stream at all).
 */
export function createAgentHub(deps: AgentHubDeps) {
  const entries = new Map<string, Entry>();
  /** Protocol state outlives sessions, so a reconnecting agent may keep compressing. */
  const protocolStates = new Map<string, AgentProtocolState>();
  const keyOf = (tenantId: string, uidHex: string) => `${tenantId}:${uidHex}`;

  const live = { websocket: 0, http: 0 };
  /** Keeps the per-transport session gauge in step with `entries` without walking it. */
  function track(entry: Entry, delta: 1 | -1) {
    live[entry.peer.transport] += delta;
    deps.metrics.activeSessions.set({ transport: entry.peer.transport }, live[entry.peer.transport]);
  }

  function newEntry(tenantId: string, uid: Uint8Array, peer: AgentPeer): Entry {
    const uidHex = Buffer.from(uid).toString('hex');
    const key = keyOf(tenantId, uidHex);
    const session = createAgentSession({
      config: { ...deps.sessionConfig, transport: peer.transport },
      instanceUid: uid,
      stored: protocolStates.get(key),
      now: () => deps.clock.now().getTime(),
      newInstanceUid: deps.newInstanceUid,
    });
    return {
      key,
      tenantId,
      uidHex,
      session,
      dedupe: new SectionDeduper(),
      peer,
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

  async function loadAssignment(entry: Entry, reportedHash: Uint8Array | undefined) {
    const row = await withTenant(deps.db, entry.tenantId, (tx) => getAgentByUid(tx, entry.uidHex));
    entry.loaded = true;
    if (!row) return;
    entry.agentId = row.id;
    entry.assignedHash = row.remote_config_hash ?? undefined;
    if (!row.remote_config || !row.remote_config_hash) return;
    const stored = row.remote_config_status as { lastRemoteConfigHash?: string } | null;
    const lastHash = reportedHash?.length
      ? Buffer.from(reportedHash).toString('hex')
      : stored?.lastRemoteConfigHash
        ? Buffer.from(stored.lastRemoteConfigHash, 'base64').toString('hex')
        : undefined;
    // Resend only when the agent does not already run (or reject) the assigned config.
    if (lastHash !== row.remote_config_hash) {
      entry.session.offer({
        kind: 'remoteConfig',
        remoteConfig: fromJson(AgentRemoteConfigSchema, row.remote_config as never),
      });
    }
  }

  /** Offers the configured heartbeat interval through OpAMP connection settings (N-25, N-26). */
  function offerHeartbeat(entry: Entry) {
    const destinationEndpoint = deps.opampEndpoint(entry.peer.transport);
    const interval = BigInt(deps.heartbeatIntervalSeconds);
    const hash = createHash('sha256').update(`opamp\0${destinationEndpoint}\0${interval}`).digest();
    entry.session.offer({
      kind: 'connectionSettings',
      connectionSettings: create(ConnectionSettingsOffersSchema, {
        hash,
        opamp: { destinationEndpoint, heartbeatIntervalSeconds: interval },
      }),
    });
  }

  async function process(entry: Entry, msg: ValidAgentToServer): Promise<ServerToAgent> {
    const now = deps.clock.now();
    const first = entry.lastMessageAt === 0;
    entry.lastMessageAt = now.getTime();
    const inbound = entry.session.receive(msg);

    if (deps.buffer.pending > deps.maxPendingWrites) {
      deps.metrics.framesRejected.inc({ reason: 'overloaded' });
      return inbound.reject('unavailable', 'server is busy; retry later', deps.retryAfterSeconds * 1000);
    }

    // A uid assigned in this reply is where the agent's state lives from now on.
    const uidHex = inbound.newInstanceUid
      ? Buffer.from(inbound.newInstanceUid).toString('hex')
      : entry.uidHex;
    if (uidHex !== entry.uidHex) {
      entries.delete(entry.key);
      entry.uidHex = uidHex;
      entry.key = keyOf(entry.tenantId, uidHex);
      const holder = entries.get(entry.key);
      if (holder) {
        holder.peer.close?.(1008, 'instance_uid taken over');
        release(holder, now);
      }
      entries.set(entry.key, entry);
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
    if (inbound.heartbeatOfferDue) offerHeartbeat(entry);

    const reply = inbound.reply();
    if (inbound.disconnect) release(entry, now);
    return reply;
  }

  return {
    get size() {
      return entries.size;
    },

    has(tenantId: string, uid: Uint8Array) {
      return entries.has(keyOf(tenantId, Buffer.from(uid).toString('hex')));
    },

    /**
     * Handles one validated message from `peer`. `streamEntries` holds the agents already seen on the
     * same WebSocket, so a second agent behind a proxy gets a session of its own.
     */
    handle(tenantId: string, msg: ValidAgentToServer, peer: AgentPeer): Promise<ServerToAgent> {
      const uidHex = Buffer.from(msg.instanceUid).toString('hex');
      const key = keyOf(tenantId, uidHex);
      let entry = entries.get(key);
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
        entry = newEntry(tenantId, msg.instanceUid, peer);
        entries.set(key, entry);
        track(entry, 1);
      }
      const e = entry;
      const result = e.chain.then(() => process(e, msg));
      e.chain = result.catch(() => {});
      return result;
    },

    /** The stream closed: every agent on it is disconnected (C-5). */
    streamClosed(peer: AgentPeer) {
      const at = deps.clock.now();
      for (const e of [...entries.values()]) if (e.peer === peer) release(e, at);
    },

    /** WebSocket: unsolicited messages waiting for this agent (offers made between messages). */
    drain(tenantId: string, uid: Uint8Array): ServerToAgent[] {
      const e = entries.get(keyOf(tenantId, Buffer.from(uid).toString('hex')));
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
      if (Object.keys(files).length === 0)
        return { status: 'refused', reason: 'a remote config needs at least one file' };
      const hash = createHash('sha256');
      for (const name of Object.keys(files).sort())
        hash.update(`${name}\0${files[name]!.contentType}\0`).update(files[name]!.body);
      const digest = hash.digest();
      const remoteConfig = create(AgentRemoteConfigSchema, {
        config: create(AgentConfigMapSchema, {
          configMap: Object.fromEntries(
            Object.entries(files).map(([k, f]) => [k, { body: f.body, contentType: f.contentType }]),
          ),
        }),
        configHash: digest,
      });
      const row = await withTenant(deps.db, tenantId, (tx) =>
        setRemoteConfig(tx, agentId, toJson(AgentRemoteConfigSchema, remoteConfig), digest.toString('hex')),
      );
      if (!row) return { status: 'not-found' };
      const e = entries.get(keyOf(tenantId, Buffer.from(row.instance_uid).toString('hex')));
      if (!e) return { status: 'stored' };
      e.assignedHash = digest.toString('hex');
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
