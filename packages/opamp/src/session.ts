/**
 * Transport-neutral OpAMP agent session: the protocol state machine the
 * server gateway drives. Pure — no I/O; time and uid generation are
 * injected.
 *
 * Lifetime: one session per agent per stream. On WebSocket the gateway
 * creates it when a uid first appears on a connection (one connection may
 * carry several agents through a proxy, A-2); over plain HTTP it keeps one
 * per agent across polls, because pending offers can only ride on the next
 * poll's reply (S-12).
 *
 * Concurrency rule: a session is never fed concurrently. The gateway
 * passes one message to `receive`, then builds that message's reply with
 * `inbound.reply()` (or `reject`) before it feeds the next one; `receive`
 * throws if the previous message is still unanswered. Between the two it
 * may await I/O and queue offers. `offer`, `push` and the request methods
 * may be called at any time between messages.
 *
 * Heartbeat rule: the interval lives in OpAMPConnectionSettings, which may
 * only go to agents with AcceptsOpAMPConnectionSettings (N-1, S-11), needs
 * a non-empty destination endpoint (N-3) and, for an mTLS agent, the
 * certificate it keeps using (an opamp offer without one tells the agent to
 * drop its client certificate). So the session never invents an opamp
 * offer. It reports `heartbeatOfferDue` when the agent has ReportsHeartbeat
 * and AcceptsOpAMPConnectionSettings, the server offers connection
 * settings, and the configured interval has not yet been delivered to this
 * agent (tracked in the persisted state, so reconnects do not re-offer);
 * the gateway then queues a complete opamp offer. Every opamp offer that
 * leaves the interval at 0 gets the configured one (G-2). `staleAt` applies
 * only to agents given an interval by this server (N-27, N-28).
 */
import { create } from '@bufbuild/protobuf';
import {
  AgentCapability as A,
  AgentToServerFlag,
  ServerCapability as S,
  ServerToAgentFlag,
  has,
  serverCapabilities,
} from './capabilities';
import {
  AgentIdentificationSchema,
  CustomCapabilitiesSchema,
  ServerToAgentSchema,
  type ServerToAgent,
} from './gen/opamp_pb';
import { capabilityGate, gateOffer } from './session-offers';
import { looksComplete, sameBytes, sectionsOf, withHeartbeat } from './session-inbound';
import type {
  AgentProtocolState,
  AgentSession,
  CreateSessionOptions,
  FullStateReason,
  Inbound,
  Offer,
  OfferKind,
} from './session-types';
import { isUuidV7 } from './uuid';
import { errorResponse, type ValidAgentToServer } from './validate';

export const DEFAULT_HEARTBEAT_INTERVAL_SECONDS = 30;

/** Creates the session for one agent on one stream. */
export function createAgentSession(options: CreateSessionOptions): AgentSession {
  const { config, now, newInstanceUid } = options;
  const serverCaps = serverCapabilities(config.serverCapabilities);
  const mask = config.agentCapabilityMask ?? ~0n;
  const heartbeatInterval = config.heartbeatIntervalSeconds ?? DEFAULT_HEARTBEAT_INTERVAL_SECONDS;
  const customCaps = config.serverCustomCapabilities ?? [];

  let uid = options.instanceUid;
  let state: AgentProtocolState | undefined = options.stored ? { ...options.stored } : undefined;
  let stateDirty = false;
  let lastMessageAt: number | undefined;
  /** Capabilities go in the first reply of a WebSocket session and in every HTTP reply (S-4, G-8). */
  let capabilitiesSent = false;
  let customCapabilitiesSent = false;
  let awaitingReply = false;
  let fullStateRequested: FullStateReason | undefined;
  let availableComponentsRequested = false;
  /** A uid handed to the agent (or about to be) that it has not adopted yet. */
  let assignedUid: Uint8Array | undefined;
  let identificationPending = false;
  const pending = new Map<OfferKind, Offer>();

  const agentCaps = () => (state?.capabilities ?? 0n) & mask;
  const gateCtx = () => ({
    server: serverCaps,
    agent: agentCaps(),
    agentCustom: state?.customCapabilities ?? [],
  });
  const setState = (next: AgentProtocolState) => {
    state = next;
    stateDirty = true;
  };

  function heartbeatOfferDue(): boolean {
    const caps = agentCaps();
    const queued = pending.get('connectionSettings');
    return (
      has(serverCaps, S.OffersConnectionSettings) &&
      has(caps, A.ReportsHeartbeat) &&
      has(caps, A.AcceptsOpAMPConnectionSettings) &&
      (state?.heartbeatIntervalSeconds ?? 0) !== heartbeatInterval &&
      !(queued?.kind === 'connectionSettings' && queued.connectionSettings.opamp)
    );
  }

  /** Re-checks pending offers (valid when offered) against the capabilities now in force. */
  function regate(): OfferKind[] {
    const dropped: OfferKind[] = [];
    const ctx = gateCtx();
    for (const [kind, offer] of pending) {
      if (!capabilityGate(offer, ctx).ok) {
        pending.delete(kind);
        dropped.push(kind);
      }
    }
    return dropped;
  }

  /** Builds the next outbound message from pending items; `required` is what a reply must carry. */
  function build(replyUid: Uint8Array, required: { flags: bigint }): ServerToAgent {
    const msg = create(ServerToAgentSchema, { instanceUid: replyUid });
    let flags = required.flags;
    if (fullStateRequested === 'requested') {
      flags |= ServerToAgentFlag.ReportFullState;
      fullStateRequested = undefined;
    }
    if (availableComponentsRequested && has(agentCaps(), A.ReportsAvailableComponents)) {
      flags |= ServerToAgentFlag.ReportAvailableComponents;
    }
    availableComponentsRequested = false;
    msg.flags = flags;
    if (identificationPending && assignedUid) {
      msg.agentIdentification = create(AgentIdentificationSchema, { newInstanceUid: assignedUid });
      identificationPending = false;
    }
    const mustCarry = msg.flags !== 0n || msg.agentIdentification !== undefined;
    const command = pending.get('command');
    if (!mustCarry && command?.kind === 'command' && pending.size === 1) {
      // A command travels with nothing but uid and capabilities (K-2).
      msg.command = command.command;
      pending.delete('command');
    } else {
      for (const [kind, offer] of pending) {
        if (offer.kind === 'command') continue;
        if (offer.kind === 'remoteConfig') msg.remoteConfig = offer.remoteConfig;
        if (offer.kind === 'packages') msg.packagesAvailable = offer.packagesAvailable;
        if (offer.kind === 'customMessage') msg.customMessage = offer.customMessage;
        if (offer.kind === 'connectionSettings') {
          msg.connectionSettings = offer.connectionSettings;
          const interval = offer.connectionSettings.opamp?.heartbeatIntervalSeconds;
          if (interval !== undefined && state)
            setState({ ...state, heartbeatIntervalSeconds: Number(interval) });
        }
        pending.delete(kind);
      }
      if (!customCapabilitiesSent && customCaps.length > 0) {
        msg.customCapabilities = create(CustomCapabilitiesSchema, { capabilities: [...customCaps] });
        customCapabilitiesSent = true;
      }
    }
    if (config.transport === 'http' || !capabilitiesSent) {
      msg.capabilities = serverCaps;
      capabilitiesSent = true;
    }
    return msg;
  }

  function assign(): Uint8Array {
    if (!assignedUid) {
      const fresh = newInstanceUid();
      // A wrong generator would make the agent drop the uid or crash.
      if (!isUuidV7(fresh)) throw new Error('instance uid source must produce 16-byte UUIDv7 values');
      assignedUid = fresh;
    }
    identificationPending = true;
    return assignedUid;
  }

  function receive(msg: ValidAgentToServer): Inbound {
    if (awaitingReply)
      throw new Error('the previous message has not been answered; sessions are not re-entrant');
    let adopted = false;
    if (!sameBytes(msg.instanceUid, uid)) {
      if (assignedUid && sameBytes(msg.instanceUid, assignedUid)) {
        uid = assignedUid;
        assignedUid = undefined;
        identificationPending = false;
        adopted = true;
      } else {
        throw new Error('message addressed to a different agent than this session');
      }
    }
    lastMessageAt = now();
    const sections = sectionsOf(msg);
    const previous = state;
    let fullState: FullStateReason | undefined;
    if (fullStateRequested === 'previous_failure') fullState = 'previous_failure';
    else if (!previous) fullState = looksComplete(msg) ? undefined : 'unknown_agent';
    else if (msg.sequenceNum !== previous.sequenceNum + 1n) fullState = 'sequence_gap';
    else if (fullStateRequested === 'requested') fullState = 'requested';
    fullStateRequested = undefined;

    const reported = msg.capabilities;
    const capabilities = reported !== 0n ? reported : (previous?.capabilities ?? 0n);
    setState({
      sequenceNum: msg.sequenceNum,
      capabilities,
      customCapabilities: sections.customCapabilities
        ? [...sections.customCapabilities.capabilities]
        : (previous?.customCapabilities ?? []),
      heartbeatIntervalSeconds: previous?.heartbeatIntervalSeconds ?? 0,
    });
    const withdrawn = regate();
    const newUid = has(msg.flags, AgentToServerFlag.RequestInstanceUid) ? assign() : undefined;
    const replyUid = msg.instanceUid;
    awaitingReply = true;
    let answered = false;
    const answer = () => {
      if (answered) throw new Error('this message has already been answered');
      answered = true;
      awaitingReply = false;
    };
    return {
      instanceUid: replyUid,
      sequenceNum: msg.sequenceNum,
      sections,
      statusOmitted: Object.keys(sections).length === 0,
      capabilities: capabilities & mask,
      capabilitiesChanged: reported !== 0n && reported !== previous?.capabilities,
      fullState,
      newInstanceUid: newUid,
      adoptedInstanceUid: adopted,
      disconnect: msg.agentDisconnect !== undefined,
      connectionSettingsRequest: msg.connectionSettingsRequest,
      customMessage: msg.customMessage,
      withdrawn,
      heartbeatOfferDue: heartbeatOfferDue(),
      reply() {
        answer();
        const flags = fullState ? ServerToAgentFlag.ReportFullState : 0n;
        return build(replyUid, { flags });
      },
      reject(kind, message, retryAfterMs) {
        answer();
        // The report was not processed, so the server may now lack part of it.
        fullStateRequested = 'previous_failure';
        return errorResponse(replyUid, kind, message, retryAfterMs);
      },
    };
  }

  const session: AgentSession = {
    get instanceUid() {
      return uid;
    },
    get state() {
      return state ? { ...state } : undefined;
    },
    get capabilities() {
      return agentCaps();
    },
    get lastMessageAt() {
      return lastMessageAt;
    },
    receive,
    handle(msg) {
      const inbound = receive(msg);
      const reply = inbound.reply();
      return { inbound, reply, state: { ...(state as AgentProtocolState) } };
    },
    offer(offer) {
      const verdict = gateOffer(offer, gateCtx());
      if (!verdict.ok) return verdict;
      pending.set(offer.kind, withHeartbeat(offer, heartbeatInterval));
      return verdict;
    },
    withdraw(kind) {
      pending.delete(kind);
    },
    pendingOffers: () => [...pending.keys()],
    requestFullState() {
      if (fullStateRequested !== 'previous_failure') fullStateRequested = 'requested';
    },
    requestAvailableComponents() {
      if (!has(agentCaps(), A.ReportsAvailableComponents)) {
        return { ok: false, reason: 'agent_capability', detail: 'agent lacks ReportsAvailableComponents' };
      }
      availableComponentsRequested = true;
      return { ok: true };
    },
    assignNewInstanceUid: assign,
    push() {
      if (awaitingReply || lastMessageAt === undefined) return undefined;
      const nothingPending =
        pending.size === 0 &&
        !identificationPending &&
        fullStateRequested !== 'requested' &&
        !(availableComponentsRequested && has(agentCaps(), A.ReportsAvailableComponents));
      if (nothingPending) return undefined;
      return build(uid, { flags: 0n });
    },
    takeStateUpdate() {
      if (!stateDirty || !state) return undefined;
      stateDirty = false;
      return { ...state };
    },
    staleAt() {
      const interval = state?.heartbeatIntervalSeconds ?? 0;
      if (lastMessageAt === undefined || interval <= 0 || !has(agentCaps(), A.ReportsHeartbeat))
        return undefined;
      return lastMessageAt + (config.heartbeatWindowSeconds ?? 3 * interval) * 1000;
    },
  };
  return session;
}
