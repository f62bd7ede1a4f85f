import {
  AgentCapability,
  DEFAULT_HEARTBEAT_INTERVAL_SECONDS,
  errorResponse,
  has,
  type Inbound,
  type SessionConfig,
  type ValidAgentToServer,
} from '@ampora/opamp';
import type { Logger } from '../observability/logger.js';
import type { Admitted, AgentIdentity, AgentTrust } from './agent-principal.js';
import { opampOffer } from './connection-offers.js';
import {
  hexOf,
  principalKeyOf,
  type AgentPeer,
  type HubEntry,
  type HubReply,
  type HubSessions,
  type HubStream,
} from './hub-sessions.js';
import type { OpampMetrics } from './opamp-metrics.js';

export interface HubTrustDeps {
  logger: Logger;
  metrics: OpampMetrics;
  sessions: HubSessions;
  /** Live WebSocket streams. */
  streams: ReadonlyMap<AgentPeer, HubStream>;
  /** Pushes whatever is pending to a WebSocket agent, between two of its messages. */
  pushLater: (entry: HubEntry) => void;
  opampEndpoint: (transport: 'websocket' | 'http') => string;
  sessionConfig: Pick<SessionConfig, 'heartbeatIntervalSeconds'>;
  enrollmentGraceMs?: number;
}

/**
 * The hub's side of trust: redeeming a bootstrap token, answering a CSR, offering renewals and the
 * heartbeat interval to enrolled agents, and refusing impersonation. Without an attached
 * `AgentTrust` every agent is anonymous and only the heartbeat offer applies.
 */
export function createHubTrust(deps: HubTrustDeps) {
  let trust: AgentTrust | undefined;

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

  /** Offers a new certificate once per session, off the reply path. */
  function startRenewal(entry: HubEntry, identity: AgentIdentity) {
    if (!trust) return;
    entry.renewal = 'issuing';
    trust.renew(entry.admitted, identity).then(
      (offer) => {
        entry.renewal = 'offered';
        if (!offer || !deps.sessions.isCurrent(entry)) return;
        const offered = entry.session.offer({ kind: 'connectionSettings', connectionSettings: offer });
        if (offered.ok) deps.pushLater(entry);
      },
      (err: unknown) => {
        entry.renewal = 'failed';
        deps.logger.error({ err, agent: identity.agentId }, 'certificate renewal failed');
      },
    );
  }

  /** Redeems the session's bootstrap token; the certificate goes out in this reply's settings offer. */
  async function enroll(
    entry: HubEntry,
    inbound: Inbound,
    msg: ValidAgentToServer,
  ): Promise<HubReply | undefined> {
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
    const stream = deps.streams.get(entry.peer);
    if (stream) {
      stream.identity = identity;
      const peer = entry.peer;
      setTimeout(
        () => peer.close?.(1000, 'enrolled; reconnect with the issued certificate'),
        deps.enrollmentGraceMs ?? 30_000,
      ).unref();
    }
    deps.sessions.register(entry, 'instance_uid enrolled by another connection');
    entry.session.offer({ kind: 'connectionSettings', connectionSettings: offer });
    return undefined;
  }

  /** A CSR on an established session: only an agent proving its certificate may renew this way. */
  async function answerCsr(
    entry: HubEntry,
    inbound: Inbound,
    msg: ValidAgentToServer,
  ): Promise<HubReply | undefined> {
    if (!entry.identity || !trust) {
      return {
        reply: inbound.reject(
          'bad_request',
          'a certificate is issued only with a bootstrap token or to an agent that presents its client certificate',
        ),
      };
    }
    if (!has(inbound.capabilities, AgentCapability.AcceptsOpAMPConnectionSettings)) {
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
    return undefined;
  }

  return {
    /** Lets the trust layer (enrollment, identities) take part. */
    attach(t: AgentTrust) {
      trust = t;
    },
    get attached() {
      return trust !== undefined;
    },
    refuseImpersonation,

    /** An anonymous agent may not use a uid an enrolled agent holds, even while that one is away. */
    isBoundUid: (tenantId: string, uidHex: string) =>
      trust ? trust.isBoundUid(tenantId, uidHex) : Promise.resolve(false),

    /** The enrollment or CSR part of a message; a reply here ends its handling. */
    async certificateStep(entry: HubEntry, inbound: Inbound, msg: ValidAgentToServer) {
      if (entry.enrolling) return enroll(entry, inbound, msg);
      if (inbound.connectionSettingsRequest?.opamp?.certificateRequest) return answerCsr(entry, inbound, msg);
      return undefined;
    },

    /**
     * Offers the configured heartbeat interval through OpAMP connection settings (N-25, N-26). An
     * enrolled agent's offer carries the certificate it already uses: an opamp offer without one
     * would tell it to stop presenting a client certificate, and lock it out.
     */
    offerHeartbeat(entry: HubEntry) {
      const identity = entry.identity;
      const certificate = identity && trust ? trust.currentCertificate(identity) : undefined;
      if (identity && !certificate) return;
      entry.session.offer({
        kind: 'connectionSettings',
        connectionSettings: opampOffer({
          destinationEndpoint: deps.opampEndpoint(entry.peer.transport),
          heartbeatIntervalSeconds:
            deps.sessionConfig.heartbeatIntervalSeconds ?? DEFAULT_HEARTBEAT_INTERVAL_SECONDS,
          certificate,
          serverCaPem: identity ? trust?.serverCaPem() : undefined,
        }),
      });
    },

    /** Keeps the agent's ConnectionSettingsStatus, and starts a renewal once the certificate is due. */
    afterMessage(entry: HubEntry, inbound: Inbound, now: Date) {
      const identity = entry.identity;
      if (!identity || !trust) return;
      const status = inbound.sections.connectionSettingsStatus;
      if (status) trust.settingsStatus(entry.admitted, identity, status);
      // A CSR agent may also renew by sending a CSR itself; one that has not by now gets its key re-certified.
      if (
        !entry.renewal &&
        !entry.enrolledHere &&
        has(inbound.capabilities, AgentCapability.AcceptsOpAMPConnectionSettings) &&
        now.getTime() >= identity.renewAt.getTime()
      ) {
        startRenewal(entry, identity);
      }
    },
  };
}

export type HubTrust = ReturnType<typeof createHubTrust>;
