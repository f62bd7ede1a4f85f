import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { AgentCapability as A, ServerCapability as S, ServerToAgentFlag, combine } from './capabilities';
import {
  AgentRemoteConfigSchema,
  AgentToServerSchema,
  ConnectionSettingsOffersSchema,
  CustomMessageSchema,
  PackagesAvailableSchema,
  ServerToAgentCommandSchema,
  ServerToAgentSchema,
  type AgentToServer,
  type ServerToAgent,
} from './gen/opamp_pb';
import { createAgentSession } from './session';
import type { AgentProtocolState, Offer, SessionConfig, Transport } from './session-types';
import { createUuidV7Source, isUuidV7 } from './uuid';
import { decodeAgentToServer, type ValidAgentToServer } from './validate';

const UID = new Uint8Array(16).map((_, i) => i + 1);
const ALL_SERVER = combine(...Object.values(S));
const FULL_AGENT = combine(
  A.ReportsStatus,
  A.AcceptsRemoteConfig,
  A.ReportsEffectiveConfig,
  A.ReportsHealth,
  A.ReportsRemoteConfig,
);
const bytes = (s: string) => new TextEncoder().encode(s);

function msg(
  init: MessageInitShape<typeof AgentToServerSchema> = {},
  uid: Uint8Array = UID,
): ValidAgentToServer {
  const m = create(AgentToServerSchema, init);
  m.instanceUid = uid;
  const res = decodeAgentToServer(toBinary(AgentToServerSchema, m));
  if (!res.ok) throw new Error(res.detail);
  return res.msg;
}

function fullReport(
  seq: bigint,
  caps = FULL_AGENT,
  extra: Exclude<MessageInitShape<typeof AgentToServerSchema>, AgentToServer> = {},
) {
  return msg({
    sequenceNum: seq,
    capabilities: caps,
    agentDescription: {
      identifyingAttributes: [{ key: 'service.name', value: { value: { case: 'stringValue', value: 'x' } } }],
    },
    health: { healthy: true },
    effectiveConfig: { configMap: { configMap: { '': { body: bytes('a') } } } },
    ...extra,
  });
}

/** Round-trips a message through the wire so assertions see what an agent would. */
const wire = (m: ServerToAgent) => fromBinary(ServerToAgentSchema, toBinary(ServerToAgentSchema, m));

const clock = 1_700_000_000_000;
function session(
  opts: { transport?: Transport; stored?: AgentProtocolState; config?: Partial<SessionConfig> } = {},
) {
  return createAgentSession({
    config: { transport: opts.transport ?? 'websocket', serverCapabilities: ALL_SERVER, ...opts.config },
    instanceUid: UID,
    stored: opts.stored,
    now: () => clock,
    newInstanceUid: createUuidV7Source({
      now: () => clock,
      randomBytes: (n) => new Uint8Array(n).fill(0x5a),
    }),
  });
}
const known = (over: Partial<AgentProtocolState> = {}): AgentProtocolState => ({
  sequenceNum: 10n,
  capabilities: FULL_AGENT,
  customCapabilities: [],
  heartbeatIntervalSeconds: 0,
  ...over,
});

const rcOffer = (hash = 'h1'): Offer => ({
  kind: 'remoteConfig',
  remoteConfig: create(AgentRemoteConfigSchema, {
    configHash: bytes(hash),
    config: { configMap: { '': { body: bytes(`cfg ${hash}`), contentType: 'text/yaml' } } },
  }),
});
const csOffer = (init: MessageInitShape<typeof ConnectionSettingsOffersSchema>): Offer => ({
  kind: 'connectionSettings',
  connectionSettings: create(ConnectionSettingsOffersSchema, { hash: bytes('cs1'), ...init }),
});
const restart: Offer = { kind: 'command', command: create(ServerToAgentCommandSchema) };

describe('replies', () => {
  it('S-1, S-3: every message gets a reply addressed to its uid, a heartbeat gets a bare ack', () => {
    const s = session({ stored: known() });
    s.handle(fullReport(11n));
    const { reply } = s.handle(msg({ sequenceNum: 12n }));
    const w = wire(reply);
    expect(w.instanceUid).toEqual(UID);
    expect(w.flags).toBe(0n);
    expect(w.capabilities).toBe(0n); // S-6: later replies may omit it on WebSocket
    expect(w.remoteConfig).toBeUndefined();
  });

  it('S-2: a duplicate (retried) message is still answered', () => {
    const s = session({ stored: known() });
    s.handle(fullReport(11n));
    const { reply, inbound } = s.handle(fullReport(11n));
    expect(wire(reply).instanceUid).toEqual(UID);
    expect(inbound.fullState).toBe('sequence_gap');
  });

  it('S-4, S-5: the first WebSocket reply carries the masked server capabilities with AcceptsStatus', () => {
    const s = session({ config: { serverCapabilities: S.OffersRemoteConfig | (1n << 9n) } });
    const first = wire(s.handle(fullReport(0n)).reply);
    expect(first.capabilities).toBe(S.AcceptsStatus | S.OffersRemoteConfig);
    expect(wire(s.handle(msg({ sequenceNum: 1n })).reply).capabilities).toBe(0n);
  });

  it('G-8: over HTTP every reply carries capabilities', () => {
    const s = session({ transport: 'http', stored: known() });
    expect(s.handle(msg({ sequenceNum: 11n })).reply.capabilities).toBe(ALL_SERVER);
    expect(s.handle(msg({ sequenceNum: 12n })).reply.capabilities).toBe(ALL_SERVER);
  });

  it('S-8, S-10: reject builds an error-only reply and asks for the full state next time', () => {
    const s = session({ config: { serverCustomCapabilities: ['io.example.x'] } });
    s.offer(rcOffer()); // refused: capabilities unknown yet; must not leak into the error reply
    const inbound = s.receive(fullReport(0n));
    expect(s.offer(rcOffer()).ok).toBe(true);
    const err = wire(inbound.reject('unavailable', 'busy', 30_000));
    expect(err.errorResponse?.errorMessage).toBe('busy');
    expect(err.capabilities).toBe(0n);
    expect(err.remoteConfig).toBeUndefined();
    expect(err.customCapabilities).toBeUndefined();
    const next = s.handle(msg({ sequenceNum: 1n }));
    expect(next.inbound.fullState).toBe('previous_failure');
    const w = wire(next.reply);
    expect(w.flags & ServerToAgentFlag.ReportFullState).toBe(ServerToAgentFlag.ReportFullState);
    // Capabilities were not sent with the error, so they go in this first successful reply.
    expect(w.capabilities).toBe(ALL_SERVER);
    expect(w.remoteConfig).toBeDefined();
    expect(w.customCapabilities?.capabilities).toEqual(['io.example.x']);
  });

  it('refuses to be fed again before the previous message is answered, or answered twice', () => {
    const s = session();
    const inbound = s.receive(fullReport(0n));
    expect(() => s.receive(msg({ sequenceNum: 1n }))).toThrow(/not been answered/);
    inbound.reply();
    expect(() => inbound.reply()).toThrow(/already been answered/);
    expect(() => s.receive(msg({ sequenceNum: 1n }, new Uint8Array(16)))).toThrow(/different agent/);
  });
});

describe('status compression and sequence numbers', () => {
  it('A-7: an unknown agent sending a compressed report gets ReportFullState', () => {
    const s = session();
    const { inbound, reply } = s.handle(msg({ sequenceNum: 5n }));
    expect(inbound.fullState).toBe('unknown_agent');
    expect(reply.flags & ServerToAgentFlag.ReportFullState).toBe(ServerToAgentFlag.ReportFullState);
  });

  it('A-7: an unknown agent whose first report is complete is not asked again', () => {
    const s = session();
    const { inbound, reply } = s.handle(fullReport(0n));
    expect(inbound.fullState).toBeUndefined();
    expect(reply.flags).toBe(0n);
    // An agent that promises health but leaves it out is not complete.
    const t = session();
    expect(t.handle(fullReport(0n, FULL_AGENT, { health: undefined })).inbound.fullState).toBe(
      'unknown_agent',
    );
  });

  it('A-6: a sequence gap sets ReportFullState; consecutive numbers do not', () => {
    const s = session({ stored: known({ sequenceNum: 10n }) });
    expect(s.handle(msg({ sequenceNum: 11n })).reply.flags).toBe(0n);
    const gap = s.handle(msg({ sequenceNum: 13n }));
    expect(gap.inbound.fullState).toBe('sequence_gap');
    expect(gap.reply.flags).toBe(ServerToAgentFlag.ReportFullState);
    expect(s.handle(msg({ sequenceNum: 14n })).reply.flags).toBe(0n);
    // Going backwards (agent restart) is a gap too.
    expect(s.handle(msg({ sequenceNum: 0n })).inbound.fullState).toBe('sequence_gap');
  });

  it('A-8: sequence state comes from the stored agent state, so a reconnect continues without a full-state request', () => {
    const first = session();
    first.handle(fullReport(0n));
    first.handle(msg({ sequenceNum: 1n }));
    const persisted = first.takeStateUpdate();
    expect(persisted?.sequenceNum).toBe(1n);
    const second = session({ stored: persisted });
    expect(second.handle(msg({ sequenceNum: 2n })).inbound.fullState).toBeUndefined();
  });

  it('A-9: only present sections are reported, each whole', () => {
    const s = session({ stored: known() });
    const { inbound } = s.handle(
      msg({ sequenceNum: 11n, health: { healthy: false, componentHealthMap: { a: { healthy: false } } } }),
    );
    expect(Object.keys(inbound.sections)).toEqual(['health']);
    expect(inbound.sections.health?.componentHealthMap.a?.healthy).toBe(false);
    expect(inbound.statusOmitted).toBe(false);
    expect(s.handle(msg({ sequenceNum: 12n })).inbound.statusOmitted).toBe(true);
  });

  it('requestFullState asks on the next reply only', () => {
    const s = session({ stored: known() });
    s.requestFullState();
    const first = s.handle(msg({ sequenceNum: 11n }));
    expect(first.inbound.fullState).toBe('requested');
    expect(first.reply.flags).toBe(ServerToAgentFlag.ReportFullState);
    expect(s.handle(msg({ sequenceNum: 12n })).reply.flags).toBe(0n);
  });
});

describe('capabilities', () => {
  it('A-4: capabilities == 0 on a poll means not reported; the last set is kept', () => {
    const s = session({ stored: known() });
    const { inbound } = s.handle(msg({ sequenceNum: 11n, capabilities: 0n }));
    expect(inbound.capabilities).toBe(FULL_AGENT);
    expect(inbound.capabilitiesChanged).toBe(false);
    expect(s.offer(rcOffer()).ok).toBe(true);
  });

  it('A-3, S-11: a dropped capability withdraws pending offers and blocks new ones', () => {
    const s = session({ stored: known() });
    expect(s.offer(rcOffer()).ok).toBe(true);
    const { inbound, reply } = s.handle(msg({ sequenceNum: 11n, capabilities: A.ReportsStatus }));
    expect(inbound.capabilitiesChanged).toBe(true);
    expect(inbound.withdrawn).toEqual(['remoteConfig']);
    expect(reply.remoteConfig).toBeUndefined();
    expect(s.offer(rcOffer())).toMatchObject({ ok: false, reason: 'agent_capability' });
  });

  it('applies the server-side agent capability mask (OpAmp:AllowedCapabilityFlags)', () => {
    const s = session({
      stored: known(),
      config: { agentCapabilityMask: A.ReportsStatus | A.ReportsEffectiveConfig },
    });
    expect(s.capabilities).toBe(A.ReportsStatus | A.ReportsEffectiveConfig);
    expect(s.offer(rcOffer())).toMatchObject({ ok: false, reason: 'agent_capability' });
  });

  it('refuses offers while the agent capabilities are unknown', () => {
    expect(session().offer(rcOffer())).toMatchObject({ ok: false, reason: 'agent_capability' });
  });
});

describe('offers', () => {
  it('R-1, S-7: remote config needs AcceptsRemoteConfig and OffersRemoteConfig', () => {
    const agentless = session({ stored: known({ capabilities: A.ReportsStatus }) });
    expect(agentless.offer(rcOffer())).toMatchObject({ ok: false, reason: 'agent_capability' });
    const serverless = session({ stored: known(), config: { serverCapabilities: S.AcceptsStatus } });
    expect(serverless.offer(rcOffer())).toMatchObject({ ok: false, reason: 'server_capability' });
  });

  it('R-2, G-1: remote config needs a hash and a non-empty map', () => {
    const s = session({ stored: known() });
    const noHash: Offer = {
      kind: 'remoteConfig',
      remoteConfig: create(AgentRemoteConfigSchema, { config: { configMap: { '': {} } } }),
    };
    const empty: Offer = {
      kind: 'remoteConfig',
      remoteConfig: create(AgentRemoteConfigSchema, { configHash: bytes('h'), config: {} }),
    };
    expect(s.offer(noHash)).toMatchObject({ ok: false, reason: 'invalid' });
    expect(s.offer(empty)).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('S-13: only the latest pending offer of a kind is delivered', () => {
    const s = session({ transport: 'http', stored: known() });
    s.offer(rcOffer('old'));
    s.offer(rcOffer('new'));
    expect(s.pendingOffers()).toEqual(['remoteConfig']);
    const w = wire(s.handle(msg({ sequenceNum: 11n })).reply);
    expect(new TextDecoder().decode(w.remoteConfig?.configHash)).toBe('new');
    expect(s.handle(msg({ sequenceNum: 12n })).reply.remoteConfig).toBeUndefined();
  });

  it('S-12: over WebSocket push delivers pending offers between messages; nothing pending means nothing to push', () => {
    const s = session({ stored: known() });
    expect(s.push()).toBeUndefined(); // nothing received yet on this stream
    s.handle(msg({ sequenceNum: 11n }));
    expect(s.push()).toBeUndefined();
    s.offer(rcOffer());
    const pushed = wire(s.push()!);
    expect(pushed.instanceUid).toEqual(UID);
    expect(pushed.remoteConfig).toBeDefined();
    expect(s.push()).toBeUndefined();
  });

  it('P-1, P-2: packages need AcceptsPackages and an aggregate hash', () => {
    const s = session({ stored: known({ capabilities: A.ReportsStatus | A.AcceptsPackages }) });
    const noHash: Offer = { kind: 'packages', packagesAvailable: create(PackagesAvailableSchema, {}) };
    expect(s.offer(noHash)).toMatchObject({ ok: false, reason: 'invalid' });
    const ok: Offer = {
      kind: 'packages',
      packagesAvailable: create(PackagesAvailableSchema, { allPackagesHash: bytes('p') }),
    };
    expect(s.offer(ok).ok).toBe(true);
    expect(session({ stored: known() }).offer(ok)).toMatchObject({ ok: false, reason: 'agent_capability' });
  });

  it('K-1: a restart command needs AcceptsRestartCommand', () => {
    expect(session({ stored: known() }).offer(restart)).toMatchObject({
      ok: false,
      reason: 'agent_capability',
    });
    expect(
      session({ stored: known({ capabilities: FULL_AGENT | A.AcceptsRestartCommand }) }).offer(restart).ok,
    ).toBe(true);
  });

  it('K-2, K-3: a command travels alone (uid and capabilities only) as an empty field 9', () => {
    const s = session({
      transport: 'http',
      stored: known({ capabilities: FULL_AGENT | A.AcceptsRestartCommand }),
    });
    s.offer(restart);
    s.offer(rcOffer());
    const first = wire(s.handle(msg({ sequenceNum: 11n })).reply);
    expect(first.remoteConfig).toBeDefined();
    expect(first.command).toBeUndefined();
    const reply = s.handle(msg({ sequenceNum: 12n })).reply;
    const raw = toBinary(ServerToAgentSchema, reply);
    const w = fromBinary(ServerToAgentSchema, raw);
    expect(w.command).toBeDefined();
    expect(w.remoteConfig).toBeUndefined();
    expect(w.flags).toBe(0n);
    expect(Buffer.from(raw).includes(Buffer.from([0x4a, 0x00]))).toBe(true);
  });

  it('K-2: a reply that must carry flags defers the command', () => {
    const s = session({ stored: known({ capabilities: FULL_AGENT | A.AcceptsRestartCommand }) });
    s.offer(restart);
    const gap = s.handle(msg({ sequenceNum: 50n }));
    expect(gap.reply.flags).toBe(ServerToAgentFlag.ReportFullState);
    expect(gap.reply.command).toBeUndefined();
    const pushed = s.push();
    expect(pushed?.command).toBeDefined();
    expect(pushed?.flags).toBe(0n);
  });

  it('N-1: each connection-settings section needs its agent capability', () => {
    const s = session({ stored: known({ capabilities: A.ReportsStatus | A.ReportsOwnMetrics }) });
    const metrics = { destinationEndpoint: 'https://otlp.example/v1/metrics' };
    expect(s.offer(csOffer({ ownMetrics: metrics })).ok).toBe(true);
    const res = s.offer(
      csOffer({ ownMetrics: metrics, ownLogs: metrics, opamp: { destinationEndpoint: 'wss://x/v1/opamp' } }),
    );
    expect(res).toMatchObject({ ok: false, reason: 'agent_capability' });
    expect(!res.ok && res.detail).toContain('AcceptsOpAMPConnectionSettings');
    expect(!res.ok && res.detail).toContain('ReportsOwnLogs');
    expect(s.offer(csOffer({ otherConnections: { db: {} } }))).toMatchObject({
      ok: false,
      reason: 'agent_capability',
    });
    const serverless = session({
      stored: known({ capabilities: A.ReportsStatus | A.ReportsOwnMetrics }),
      config: { serverCapabilities: S.AcceptsStatus },
    });
    expect(serverless.offer(csOffer({ ownMetrics: metrics }))).toMatchObject({
      ok: false,
      reason: 'server_capability',
    });
  });

  it('N-3, N-4, N-8, N-11: malformed connection settings are refused', () => {
    const s = session({
      stored: known({ capabilities: A.ReportsStatus | A.AcceptsOpAMPConnectionSettings }),
    });
    expect(s.offer(csOffer({ opamp: { destinationEndpoint: '' } }))).toMatchObject({ reason: 'invalid' });
    expect(s.offer(csOffer({ opamp: { destinationEndpoint: 'ftp://x' } }))).toMatchObject({
      reason: 'invalid',
    });
    expect(
      s.offer(csOffer({ hash: new Uint8Array(0), opamp: { destinationEndpoint: 'wss://x' } })),
    ).toMatchObject({ reason: 'invalid' });
    expect(s.offer(csOffer({ opamp: { destinationEndpoint: 'wss://x', certificate: {} } }))).toMatchObject({
      reason: 'invalid',
    });
    expect(s.offer(csOffer({ opamp: { destinationEndpoint: 'wss://x', proxy: { url: '' } } }))).toMatchObject(
      { reason: 'invalid' },
    );
    expect(s.offer(csOffer({}))).toMatchObject({ reason: 'invalid' });
  });

  it('X-5: custom messages only for capabilities the agent listed; X-4 ignores nothing on receipt', () => {
    const s = session({ stored: known() });
    const cm: Offer = {
      kind: 'customMessage',
      customMessage: create(CustomMessageSchema, { capability: 'io.example.pause', type: 't' }),
    };
    expect(s.offer(cm)).toMatchObject({ ok: false, reason: 'agent_capability' });
    const { inbound } = s.handle(
      msg({
        sequenceNum: 11n,
        customCapabilities: { capabilities: ['io.example.pause'] },
        customMessage: { capability: 'io.other', type: 'x' },
      }),
    );
    expect(inbound.customMessage?.capability).toBe('io.other');
    expect(s.offer(cm).ok).toBe(true);
  });

  it('X-1, X-2: server custom capabilities are announced once per session', () => {
    const s = session({
      transport: 'http',
      stored: known(),
      config: { serverCustomCapabilities: ['io.ampora.x/v1'] },
    });
    expect(s.handle(msg({ sequenceNum: 11n })).reply.customCapabilities?.capabilities).toEqual([
      'io.ampora.x/v1',
    ]);
    expect(s.handle(msg({ sequenceNum: 12n })).reply.customCapabilities).toBeUndefined();
    expect(
      session({ stored: known() }).handle(msg({ sequenceNum: 11n })).reply.customCapabilities,
    ).toBeUndefined();
  });

  it('V-1, V-3: ReportAvailableComponents only for agents with ReportsAvailableComponents', () => {
    expect(session({ stored: known() }).requestAvailableComponents()).toMatchObject({ ok: false });
    const s = session({ stored: known({ capabilities: FULL_AGENT | A.ReportsAvailableComponents }) });
    expect(s.requestAvailableComponents().ok).toBe(true);
    expect(s.handle(msg({ sequenceNum: 11n })).reply.flags).toBe(ServerToAgentFlag.ReportAvailableComponents);
    expect(s.handle(msg({ sequenceNum: 12n })).reply.flags).toBe(0n);
  });

  it('withdraw removes a pending offer', () => {
    const s = session({ stored: known() });
    s.offer(rcOffer());
    s.withdraw('remoteConfig');
    expect(s.handle(msg({ sequenceNum: 11n })).reply.remoteConfig).toBeUndefined();
  });
});

describe('heartbeats', () => {
  const hbCaps = A.ReportsStatus | A.ReportsHeartbeat | A.AcceptsOpAMPConnectionSettings;

  it('N-25, G-2: every opamp offer carries an explicit heartbeat interval', () => {
    const s = session({ stored: known({ capabilities: hbCaps }), config: { heartbeatIntervalSeconds: 45 } });
    const { inbound } = s.handle(msg({ sequenceNum: 11n }));
    expect(inbound.heartbeatOfferDue).toBe(true);
    s.offer(csOffer({ opamp: { destinationEndpoint: 'wss://ampora.example/v1/opamp' } }));
    const w = wire(s.push()!);
    expect(w.connectionSettings?.opamp?.heartbeatIntervalSeconds).toBe(45n);
    expect(s.takeStateUpdate()?.heartbeatIntervalSeconds).toBe(45);
    expect(s.handle(msg({ sequenceNum: 12n })).inbound.heartbeatOfferDue).toBe(false);
  });

  it('N-26: the default interval is 30 s; a caller-set interval is kept', () => {
    const s = session({ stored: known({ capabilities: hbCaps }) });
    s.handle(msg({ sequenceNum: 11n }));
    s.offer(csOffer({ opamp: { destinationEndpoint: 'wss://x' } }));
    expect(s.push()?.connectionSettings?.opamp?.heartbeatIntervalSeconds).toBe(30n);
    s.offer(csOffer({ opamp: { destinationEndpoint: 'wss://x', heartbeatIntervalSeconds: 10n } }));
    expect(s.push()?.connectionSettings?.opamp?.heartbeatIntervalSeconds).toBe(10n);
  });

  it('a heartbeat offer is not due without ReportsHeartbeat or AcceptsOpAMPConnectionSettings', () => {
    const noHb = session({
      stored: known({ capabilities: A.ReportsStatus | A.AcceptsOpAMPConnectionSettings }),
    });
    expect(noHb.handle(msg({ sequenceNum: 11n })).inbound.heartbeatOfferDue).toBe(false);
    const noAccept = session({ stored: known({ capabilities: A.ReportsStatus | A.ReportsHeartbeat }) });
    expect(noAccept.handle(msg({ sequenceNum: 11n })).inbound.heartbeatOfferDue).toBe(false);
  });

  it('N-27, N-28: only agents with ReportsHeartbeat that were given an interval can go stale', () => {
    const given = session({
      stored: known({ capabilities: hbCaps, heartbeatIntervalSeconds: 30 }),
      config: { heartbeatWindowSeconds: 90 },
    });
    expect(given.staleAt()).toBeUndefined(); // no message yet on this session
    given.handle(msg({ sequenceNum: 11n }));
    expect(given.staleAt()).toBe(clock + 90_000);
    const defaultWindow = session({ stored: known({ capabilities: hbCaps, heartbeatIntervalSeconds: 20 }) });
    defaultWindow.handle(msg({ sequenceNum: 11n }));
    expect(defaultWindow.staleAt()).toBe(clock + 60_000);
    const notGiven = session({ stored: known({ capabilities: hbCaps }) });
    notGiven.handle(msg({ sequenceNum: 11n }));
    expect(notGiven.staleAt()).toBeUndefined();
    const noHeartbeat = session({ stored: known({ heartbeatIntervalSeconds: 30 }) });
    noHeartbeat.handle(msg({ sequenceNum: 11n }));
    expect(noHeartbeat.staleAt()).toBeUndefined();
  });
});

describe('instance uids and disconnect', () => {
  it('A-10, A-11, A-12: RequestInstanceUid gets a 16-byte UUIDv7 in agent_identification, addressed to the old uid', () => {
    const s = session();
    const { inbound, reply } = s.handle(fullReport(0n, FULL_AGENT, { flags: 1n }));
    const w = wire(reply);
    expect(w.instanceUid).toEqual(UID);
    expect(inbound.newInstanceUid).toBeDefined();
    expect(w.agentIdentification?.newInstanceUid).toEqual(inbound.newInstanceUid);
    expect(isUuidV7(w.agentIdentification!.newInstanceUid)).toBe(true);
  });

  it('A-13: the agent is accepted under the new uid as the same agent, with its sequence continuing', () => {
    const s = session();
    const assigned = s.handle(fullReport(0n, FULL_AGENT, { flags: 1n })).inbound.newInstanceUid!;
    // A retry before the switch reuses the same assigned uid.
    expect(s.handle(msg({ sequenceNum: 1n, flags: 1n })).inbound.newInstanceUid).toEqual(assigned);
    const { inbound, reply } = s.handle(msg({ sequenceNum: 2n }, assigned));
    expect(inbound.adoptedInstanceUid).toBe(true);
    expect(inbound.fullState).toBeUndefined();
    expect(s.instanceUid).toEqual(assigned);
    expect(reply.instanceUid).toEqual(assigned);
    expect(reply.agentIdentification).toBeUndefined();
    // The old uid now belongs to nobody on this session.
    expect(() => s.receive(msg({ sequenceNum: 3n }))).toThrow(/different agent/);
  });

  it('C-9: the gateway can assign a new uid to a duplicate; it is pushed on WebSocket', () => {
    const s = session({ stored: known() });
    s.handle(msg({ sequenceNum: 11n }));
    const fresh = s.assignNewInstanceUid();
    const pushed = wire(s.push()!);
    expect(pushed.agentIdentification?.newInstanceUid).toEqual(fresh);
    expect(pushed.instanceUid).toEqual(UID);
  });

  it('rejects a uid source that does not produce UUIDv7', () => {
    const s = createAgentSession({
      config: { transport: 'websocket', serverCapabilities: ALL_SERVER },
      instanceUid: UID,
      now: () => clock,
      newInstanceUid: () => new Uint8Array(16),
    });
    expect(() => s.handle(fullReport(0n, FULL_AGENT, { flags: 1n }))).toThrow(/UUIDv7/);
  });

  it('C-4: agent_disconnect is flagged, and still answered', () => {
    const s = session({ stored: known() });
    const { inbound, reply } = s.handle(msg({ sequenceNum: 11n, agentDisconnect: {} }));
    expect(inbound.disconnect).toBe(true);
    expect(reply.instanceUid).toEqual(UID);
  });

  it('N-24: passes a connection settings request through for the gateway, acked like any message', () => {
    const s = session({ stored: known() });
    const { inbound, reply } = s.handle(msg({ sequenceNum: 11n, connectionSettingsRequest: {} }));
    expect(inbound.connectionSettingsRequest).toBeDefined();
    expect(inbound.connectionSettingsRequest?.opamp).toBeUndefined();
    expect(reply.errorResponse).toBeUndefined();
  });
});

describe('state updates', () => {
  it('takeStateUpdate returns the state once per change', () => {
    const s = session({ stored: known() });
    expect(s.takeStateUpdate()).toBeUndefined();
    s.handle(msg({ sequenceNum: 11n }));
    expect(s.takeStateUpdate()).toMatchObject({ sequenceNum: 11n, capabilities: FULL_AGENT });
    expect(s.takeStateUpdate()).toBeUndefined();
    expect(s.lastMessageAt).toBe(clock);
  });
});
