import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export function createOpampMetrics(registry: Registry) {
  return {
    activeSessions: new Gauge({
      name: 'ampora_opamp_active_sessions',
      help: 'Agents with a live session on this instance',
      labelNames: ['transport'],
      registers: [registry],
    }),
    framesReceived: new Counter({
      name: 'ampora_opamp_frames_received_total',
      help: 'AgentToServer messages received',
      labelNames: ['transport'],
      registers: [registry],
    }),
    framesRejected: new Counter({
      name: 'ampora_opamp_frames_rejected_total',
      help: 'Inbound messages refused, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    connectionsRefused: new Counter({
      name: 'ampora_opamp_connections_refused_total',
      help: 'Connections or polls refused before any message was processed, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    impersonationRefused: new Counter({
      name: 'ampora_opamp_impersonation_refused_total',
      help: 'Messages refused because they claimed an instance_uid bound to another identity',
      registers: [registry],
    }),
    bootstrapRedemptions: new Counter({
      name: 'ampora_opamp_bootstrap_redemptions_total',
      help: 'Bootstrap token redemptions, by outcome',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    admissionsDenied: new Counter({
      name: 'ampora_opamp_admissions_denied_total',
      help: 'Agent credentials refused at admission (certificate or token), by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    certificatesIssued: new Counter({
      name: 'ampora_opamp_agent_certificates_issued_total',
      help: 'Agent certificates issued over OpAMP, by flow (enroll-csr, enroll-server-key, renew-csr, renew-same-key, renew-server-key)',
      labelNames: ['flow'],
      registers: [registry],
    }),
    outboundDropped: new Counter({
      name: 'ampora_opamp_outbound_dropped_total',
      help: 'ServerToAgent messages not sent because they exceeded the size limit',
      registers: [registry],
    }),
    replySeconds: new Histogram({
      name: 'ampora_opamp_reply_duration_seconds',
      help: 'Time from receiving an AgentToServer to sending its reply',
      labelNames: ['transport'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    stateFlushSeconds: new Histogram({
      name: 'ampora_agent_state_flush_duration_seconds',
      help: 'Time to write one batch of coalesced agent state',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
  };
}

export type OpampMetrics = ReturnType<typeof createOpampMetrics>;
