import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AgentCapability as A,
  AgentRemoteConfigSchema,
  ConnectionSettingsOffersSchema,
  PackagesAvailableSchema,
  RemoteConfigStatuses,
  ServerCapability as S,
  ServerToAgentCommandSchema,
  ServerToAgentFlag,
  configMapHash,
  create,
  encodeFrame,
  uuidToString,
  type Offer,
} from '@ampora/opamp';
import { createSimAgent, type SimAgent } from './agent';
import type { SimAgentOptions } from './agent-options';
import { HttpStatusError } from './transport';
import { startTestOpampServer, type TestOpampServer } from './test-opamp-server';

let server: TestOpampServer;
const agents: SimAgent[] = [];
const bytes = (s: string) => new TextEncoder().encode(s);

beforeEach(async () => {
  server = await startTestOpampServer();
});
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop({ graceful: false })));
  await server.close();
});

function agent(options: Partial<SimAgentOptions> & { transport?: 'websocket' | 'http' } = {}): SimAgent {
  const url = options.transport === 'http' ? server.httpUrl : server.wsUrl;
  const a = createSimAgent({ url, reconnect: false, replyTimeoutMs: 5_000, ...options });
  agents.push(a);
  return a;
}
const fromAgent = (a: SimAgent) =>
  server.received.filter((r) => uuidToString(r.msg.instanceUid) === uuidToString(a.instanceUid));
const until = async (check: () => boolean, what: string) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
};
const configOffer = (hash: string, body = `receivers: {}\n# ${hash}\n`): Offer => ({
  kind: 'remoteConfig',
  remoteConfig: create(AgentRemoteConfigSchema, {
    configHash: bytes(hash),
    config: { configMap: { '': { body: bytes(body), contentType: 'text/yaml' } } },
  }),
});

describe.each(['websocket', 'http'] as const)('simulated agent over %s', (transport) => {
  it('sends a full first report: description, capabilities, health tree and effective config', async () => {
    const a = agent({ transport, gzip: transport === 'http' });
    await a.start();
    const first = fromAgent(a)[0]!;
    expect(first.msg.sequenceNum).toBe(0n);
    expect(first.msg.capabilities & A.ReportsStatus).toBe(A.ReportsStatus);
    expect(first.msg.agentDescription?.identifyingAttributes.map((kv) => kv.key)).toContain('service.name');
    expect(
      first?.msg.health?.componentHealthMap['pipeline:traces']?.componentHealthMap['receiver:otlp']?.healthy,
    ).toBe(true);
    expect(first.msg.effectiveConfig?.configMap?.configMap['']).toBeDefined();
    expect(first?.inbound.fullState).toBeUndefined();
    expect(a.serverCapabilities & S.AcceptsStatus).toBe(S.AcceptsStatus);
  });

  it('numbers messages consecutively and compresses unchanged sections away', async () => {
    const a = agent({ transport });
    await a.start();
    a.setHealth({ healthy: false, lastError: 'exporter down' });
    await a.report();
    await a.report();
    const msgs = fromAgent(a);
    expect(msgs.map((m) => m.msg.sequenceNum)).toEqual([0n, 1n, 2n]);
    expect(msgs[1]?.msg.health?.lastError).toBe('exporter down');
    expect(msgs[1]?.msg.agentDescription).toBeUndefined();
    expect(msgs[1]?.msg.effectiveConfig).toBeUndefined();
    expect(msgs[2]?.inbound.statusOmitted).toBe(true);
    expect(msgs.every((m) => m.inbound.fullState === undefined)).toBe(true);
  });

  it('honours ReportFullState after a skipped sequence number by resending every section', async () => {
    const a = agent({ transport });
    await a.start();
    a.skipSequenceNumbers(1);
    const reply = await a.report();
    expect(reply!.flags & ServerToAgentFlag.ReportFullState).toBe(ServerToAgentFlag.ReportFullState);
    await until(() => fromAgent(a).length >= 3, 'the full-state report');
    const follow = fromAgent(a)[2]!;
    expect(follow.msg.sequenceNum).toBe(3n);
    expect(follow.msg.agentDescription).toBeDefined();
    expect(follow.msg.health).toBeDefined();
    expect(follow.inbound.fullState).toBeUndefined();
  });

  it('applies a remote config: APPLYING then APPLIED with the hash, and a new effective config', async () => {
    const a = agent({ transport });
    await a.start();
    const offer = configOffer('v2');
    expect(server.offer(a.instanceUid, offer).ok).toBe(true);
    if (transport === 'http') await a.report(); // polling agents pick offers up on their next request
    const [done] = await once(a, 'remoteConfig');
    expect(done.status.status).toBe(RemoteConfigStatuses.RemoteConfigStatuses_APPLIED);
    const statuses = fromAgent(a).flatMap((m) =>
      m.msg.remoteConfigStatus ? [m.msg.remoteConfigStatus] : [],
    );
    expect(statuses.map((s) => s.status)).toEqual([
      RemoteConfigStatuses.RemoteConfigStatuses_APPLYING,
      RemoteConfigStatuses.RemoteConfigStatuses_APPLIED,
    ]);
    expect(new TextDecoder().decode(statuses[1]?.lastRemoteConfigHash)).toBe('v2');
    const stored = server.sections.get(uuidToString(a.instanceUid))?.effectiveConfig;
    expect(a.effectiveConfigHash).toBe(
      configMapHash(offer.kind === 'remoteConfig' ? offer.remoteConfig.config : undefined),
    );
    expect(configMapHash(stored?.configMap)).toBe(a.effectiveConfigHash);
  });

  it('fails a remote config on command, keeping its effective config', async () => {
    const a = agent({ transport, applyMode: 'fail', failMessage: 'bad pipeline' });
    await a.start();
    const before = a.effectiveConfigHash;
    server.offer(a.instanceUid, configOffer('v3'));
    if (transport === 'http') await a.report();
    const [done] = await once(a, 'remoteConfig');
    expect(done.status.status).toBe(RemoteConfigStatuses.RemoteConfigStatuses_FAILED);
    expect(done.status.errorMessage).toBe('bad pipeline');
    expect(a.effectiveConfigHash).toBe(before);
    const last = fromAgent(a).at(-1)!;
    expect(last.msg.remoteConfigStatus?.status).toBe(RemoteConfigStatuses.RemoteConfigStatuses_FAILED);
  });

  it('adopts a server-assigned instance uid and uses it from then on', async () => {
    const a = agent({ transport, requestInstanceUid: true });
    const original = a.instanceUid;
    const changed = once(a, 'instanceUidChanged');
    await a.start();
    const [{ current }] = await changed;
    expect(uuidToString(current)).not.toBe(uuidToString(original));
    await a.report();
    const last = server.received.at(-1)!;
    expect(uuidToString(last.msg.instanceUid)).toBe(uuidToString(current));
    expect(last.inbound.adoptedInstanceUid).toBe(true);
    expect(last.msg.flags).toBe(0n);
  });

  it('reports agent_disconnect on a graceful stop', async () => {
    const a = agent({ transport });
    await a.start();
    await a.stop();
    expect(fromAgent(a).at(-1)?.msg.agentDisconnect).toBeDefined();
    expect(fromAgent(a).at(-1)?.inbound.disconnect).toBe(true);
  });

  it('reports installed packages and obeys a restart command', async () => {
    const a = agent({ transport });
    await a.start();
    const pkgs: Offer = {
      kind: 'packages',
      packagesAvailable: create(PackagesAvailableSchema, {
        allPackagesHash: bytes('all'),
        packages: { plugin: { version: '1.2.3', hash: bytes('p1'), file: { downloadUrl: 'https://x/p' } } },
      }),
    };
    expect(server.offer(a.instanceUid, pkgs).ok).toBe(true);
    if (transport === 'http') await a.report();
    await until(() => fromAgent(a).some((m) => m.msg.packageStatuses), 'package statuses');
    const statuses = fromAgent(a).find((m) => m.msg.packageStatuses)!.msg.packageStatuses!;
    expect(statuses.packages.plugin?.agentHasVersion).toBe('1.2.3');
    expect(new TextDecoder().decode(statuses.serverProvidedAllPackagesHash)).toBe('all');

    const command = once(a, 'command');
    expect(
      server.offer(a.instanceUid, { kind: 'command', command: create(ServerToAgentCommandSchema) }).ok,
    ).toBe(true);
    if (transport === 'http') await a.report();
    await command;
  });

  it('answers a raw garbage message with a BAD_REQUEST it surfaces as serverError', async () => {
    const a = agent({ transport });
    await a.start();
    const errored = once(a, 'serverError');
    const garbage = new Uint8Array([0xff, 0xff, 0xff]);
    await a.sendRaw(transport === 'websocket' ? encodeFrame(garbage) : garbage);
    const [err] = await errored;
    expect(err.type).toBe(1);
    expect(server.rejected).toContain('malformed');
  });

  it('surfaces a refused connection as an HTTP status error', async () => {
    server.refuseWith = 401;
    const a = agent({ transport });
    const error = await a.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(HttpStatusError);
    expect((error as HttpStatusError).status).toBe(401);
  });
});

describe('WebSocket specifics', () => {
  it('heartbeats at the interval the server offers', async () => {
    await server.close();
    server = await startTestOpampServer({
      config: { heartbeatIntervalSeconds: 1 },
      onInbound: (inbound, session) => {
        if (inbound.heartbeatOfferDue) {
          session.offer({
            kind: 'connectionSettings',
            connectionSettings: create(ConnectionSettingsOffersSchema, {
              hash: bytes('cs-1'),
              opamp: { destinationEndpoint: server.wsUrl },
            }),
          });
        }
      },
    });
    const a = agent({ heartbeatIntervalSeconds: 0 });
    await a.start();
    await until(() => a.heartbeatIntervalSeconds === 1, 'the offered interval');
    const before = fromAgent(a).length;
    // No report() call from here on: only heartbeats can produce messages.
    await until(() => fromAgent(a).length >= before + 2, 'two heartbeats');
    const status = fromAgent(a).find((m) => m.msg.connectionSettingsStatus)?.msg.connectionSettingsStatus;
    expect(new TextDecoder().decode(status?.lastConnectionSettingsHash)).toBe('cs-1');
  });

  it('sends a text frame on request, which the server rejects', async () => {
    const a = agent();
    await a.start();
    const errored = once(a, 'serverError');
    await a.sendText('hello');
    await errored;
    expect(server.rejected).toContain('text_frame');
  });

  it('sees close code 1009 when a message exceeds the server limit', async () => {
    await server.close();
    server = await startTestOpampServer({ maxBytes: 4096 });
    const a = agent();
    await a.start();
    const closed = once(a, 'disconnected');
    a.setEffectiveConfig({ '': { body: 'x'.repeat(10_000) } });
    await expect(a.report()).rejects.toThrow(/closed/);
    const [{ code }] = await closed;
    expect(code).toBe(1009);
  });

  it('reconnects after an unexpected close and resends its full state with continuing sequence numbers', async () => {
    const a = agent({ reconnect: true, reconnectDelayMs: 50 });
    await a.start();
    const connected = once(a, 'connected');
    server.dropConnections(1001);
    await connected;
    await until(() => fromAgent(a).length >= 2, 'the report after reconnecting');
    const after = fromAgent(a)[1]!;
    expect(after.msg.sequenceNum).toBe(1n);
    expect(after.msg.agentDescription).toBeDefined();
    expect(after.inbound.fullState).toBeUndefined();
  });
});

describe('HTTP specifics', () => {
  it('sends the OpAMP-Instance-UID header, gzip bodies and extra headers', async () => {
    const a = agent({ transport: 'http', gzip: true, headers: { Authorization: 'Bearer amp-bs.test' } });
    await a.start();
    const first = fromAgent(a)[0]!;
    expect(first.headers['opamp-instance-uid']).toBe(uuidToString(a.instanceUid));
    expect(first.headers['content-encoding']).toBe('gzip');
    expect(first.headers['content-type']).toBe('application/x-protobuf');
    expect(first.headers.authorization).toBe('Bearer amp-bs.test');
  });

  it('honours an Unavailable error with retry_info, then resends its full state when asked', async () => {
    await server.close();
    let rejectNext = true;
    server = await startTestOpampServer({
      onInbound: (inbound) => {
        if (!rejectNext) return undefined;
        rejectNext = false;
        return inbound.reject('unavailable', 'overloaded', 100);
      },
    });
    const a = agent({ transport: 'http', heartbeatIntervalSeconds: 0.05 });
    const errored = once(a, 'serverError');
    await a.start();
    const [err] = await errored;
    expect(err.Details.case).toBe('retryInfo');
    await until(() => fromAgent(a).length >= 3, 'polls after the retry delay');
    const [, second, third] = fromAgent(a);
    expect(second?.inbound.fullState).toBe('previous_failure');
    expect(third?.msg.agentDescription).toBeDefined();
    expect(third?.inbound.fullState).toBeUndefined();
  });
});

/** openssl arguments for a fresh P-256 key that is thrown away. */
const P256_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null'];

describe('certificates offered without a private key', () => {
  it('are refused unless they name a key the agent holds: it could never complete a handshake with one', async () => {
    const a = agent();
    await a.start();
    // A certificate for a key this agent never made (openssl, so no code of ours shaped it).
    const foreignCertPem = execFileSync('openssl', ['req', '-x509', ...P256_KEY, '-subj', '/CN=foreign'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const offers = create(ConnectionSettingsOffersSchema, {
      opamp: { destinationEndpoint: server.wsUrl, certificate: { cert: bytes(foreignCertPem) } },
    });
    await expect(a.adoptCertificate(offers)).rejects.toThrow(/names none of the keys this agent holds/);
  });
});
