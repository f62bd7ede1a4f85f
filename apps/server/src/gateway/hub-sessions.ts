import type { AgentProtocolState, AgentSession, ServerToAgent } from '@ampora/opamp';
import type { AgentStateBuffer } from '../modules/agents/agent-state-buffer.js';
import type { Admitted, AgentIdentity } from './agent-principal.js';
import type { OpampMetrics } from './opamp-metrics.js';
import type { SectionDeduper } from './status-sections.js';

/** The transport end of one agent: where replies and pushes go. */
export interface AgentPeer {
  readonly transport: 'websocket' | 'http';
  readonly remoteAddress: string;
  /** WebSocket only: sends an unsolicited ServerToAgent. */
  push?(msg: ServerToAgent): void;
  /** WebSocket only: closes the stream. */
  close?(code: number, reason: string): void;
}

/** A reply, and whether the stream (or HTTP connection) must be closed once it is sent. */
export interface HubReply {
  reply: ServerToAgent;
  close?: { code: number; reason: string };
}

/** A live WebSocket stream: the identity it proved (or created by enrolling) and the agents it carries. */
export interface HubStream {
  identity?: AgentIdentity;
  /** Kept by the sessions, so that closing a stream touches only its own agents. */
  entries: Set<HubEntry>;
}

/** One agent's live session on this instance. */
export interface HubEntry {
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

export const hexOf = (uid: Uint8Array) => Buffer.from(uid).toString('hex');
export const keyOf = (tenantId: string, uidHex: string) => `${tenantId}:${uidHex}`;
export const principalKeyOf = (identity: AgentIdentity | undefined) =>
  identity ? `agent:${identity.agentId}` : 'anonymous';

/**
 * The live sessions of this instance, keyed by tenant and instance_uid, with the active-session
 * gauge kept in step (rather than walking the map on every change) and the protocol state of ended
 * sessions kept, so a reconnecting agent may go on compressing.
 */
export function createHubSessions(deps: {
  metrics: OpampMetrics;
  buffer: AgentStateBuffer;
  streams: ReadonlyMap<AgentPeer, HubStream>;
}) {
  const entries = new Map<string, HubEntry>();
  const protocolStates = new Map<string, AgentProtocolState>();
  const live = { websocket: 0, http: 0 };

  function track(entry: HubEntry, delta: 1 | -1) {
    // HTTP peers have no stream record.
    const onStream = deps.streams.get(entry.peer)?.entries;
    if (delta === 1) onStream?.add(entry);
    else onStream?.delete(entry);
    live[entry.peer.transport] += delta;
    deps.metrics.activeSessions.set({ transport: entry.peer.transport }, live[entry.peer.transport]);
  }

  function keepState(entry: HubEntry) {
    const state = entry.session.state;
    if (state) protocolStates.set(entry.key, state);
  }

  /** Removes the entry if it still holds its key; an impostor's or a renamed session's state is not kept. */
  function detach(entry: HubEntry, options: { keepState: boolean }): boolean {
    if (entries.get(entry.key) !== entry) return false;
    entries.delete(entry.key);
    track(entry, -1);
    if (options.keepState) keepState(entry);
    return true;
  }

  return {
    get size() {
      return entries.size;
    },
    get: (key: string) => entries.get(key),
    isCurrent: (entry: HubEntry) => entries.get(entry.key) === entry,
    all: () => [...entries.values()],
    storedState: (key: string) => protocolStates.get(key),
    detach,

    /** Puts an entry under its key; a different holder of the key loses its session. */
    register(entry: HubEntry, closeReason: string) {
      const existing = entries.get(entry.key);
      if (existing === entry) return;
      if (existing) {
        if (existing.peer !== entry.peer) existing.peer.close?.(1008, closeReason);
        keepState(existing);
        track(existing, -1);
      }
      entries.set(entry.key, entry);
      track(entry, 1);
    },

    /** The session ended: the agent is recorded as disconnected. */
    release(entry: HubEntry, at: Date) {
      if (!detach(entry, { keepState: true })) return;
      deps.buffer.record({
        tenantId: entry.tenantId,
        instanceUid: entry.uidHex,
        seenAt: at,
        connected: false,
        disconnectedAt: at,
      });
    },
  };
}

export type HubSessions = ReturnType<typeof createHubSessions>;
