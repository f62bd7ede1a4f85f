import { gzipSync } from 'node:zlib';
import { createOpAMPClient, RemoteConfigStatuses } from '@elastic/opamp-client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AgentCapability,
  type RemoteConfigStatuses as PbRemoteConfigStatuses,
  ServerCapability,
  ServerErrorResponseType,
  ServerToAgentFlag,
  ServerToAgentSchema,
  fromBinary,
  has,
  uuidToString,
} from '@ampora/opamp';
import { createSimAgent } from '@ampora/agent-sim';
import { agentToServerBytes, newUid, postOpamp, RawWsAgent } from '../support/raw-opamp.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { eventually } from '../support/eventually.js';
import { apiOf } from '../support/http.js';
import { agentByUid, agentDescription, OPEN_GATEWAY_ENV } from '../support/opamp-fixtures.js';

let server: ServerProcess;

beforeAll(async () => {
  server = await startServerProcess({
    ...OPEN_GATEWAY_ENV,
    AMPORA_TEST_HOOKS_ENABLED: 'true',
    AMPORA_OPAMP_FLUSH_INTERVAL_MS: '50',
    AMPORA_OPAMP_MAX_MESSAGE_BYTES: '65536',
  });
}, 90_000);
afterAll(async () => {
  await server?.stop();
});

const api = apiOf(() => server);
const description = (name: string) => agentDescription(name, { version: '1.2.3', hostName: 'host-a' });

describe('OpAMP over plain HTTP with a real client (@elastic/opamp-client-node)', () => {
  it('T-1, S-1, R-1, R-2: connects, shows up with its description, receives a remote config and reports APPLIED', async () => {
    const received: Array<{ hash: Buffer; body: string }> = [];
    const client = createOpAMPClient({
      endpoint: server.opampHttpUrl,
      heartbeatIntervalSeconds: 0.3,
      capabilities: AgentCapability.AcceptsRemoteConfig | AgentCapability.ReportsRemoteConfig,
      onMessage: ({ remoteConfig }: any) => {
        if (!remoteConfig) return;
        const file = remoteConfig.config.configMap['elastic'];
        received.push({
          hash: Buffer.from(remoteConfig.configHash),
          body: Buffer.from(file.body).toString(),
        });
        client.setRemoteConfigStatus({
          status: RemoteConfigStatuses.RemoteConfigStatuses_APPLIED,
          lastRemoteConfigHash: remoteConfig.configHash,
        });
      },
    });
    client.setAgentDescription({
      identifyingAttributes: { 'service.name': 'elastic-e2e', 'service.version': '9.9.9' },
    });
    client.start();
    try {
      const uid = uuidToString(
        client.getInstanceUid ? client.getInstanceUid() : (client as any)._instanceUid,
      );
      const summary = await agentByUid(api, uid);
      const detail = await api(`/api/agents/${summary.id}`);
      expect(detail.status).toBe(200);
      expect(detail.body).toMatchObject({
        agentType: 'elastic-e2e',
        agentVersion: '9.9.9',
        transport: 'http',
        connected: true,
      });
      expect(detail.body.capabilities).toEqual(
        expect.arrayContaining(['ReportsStatus', 'AcceptsRemoteConfig', 'ReportsRemoteConfig']),
      );

      const push = await api(`/api/_test/agents/${summary.id}/remote-config`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          files: { elastic: { body: '{"logging_level":"debug"}', contentType: 'application/json' } },
        }),
      });
      expect({ status: push.status, body: push.body }).toEqual({ status: 200, body: { status: 'queued' } });

      await eventually(async () => (received.length ? true : undefined));
      expect(received[0]!.body).toBe('{"logging_level":"debug"}');
      expect(received[0]!.hash.length).toBe(32);

      const applied = await eventually(async () => {
        const d = await api(`/api/agents/${summary.id}`);
        return d.body.remoteConfigStatus?.status === 'RemoteConfigStatuses_APPLIED' ? d.body : undefined;
      });
      expect(
        Buffer.from(applied.remoteConfigStatus.lastRemoteConfigHash, 'base64').equals(received[0]!.hash),
      ).toBe(true);
      // Once the agent runs the assigned config it is not sent again (R: hash matches).
      await new Promise((r) => setTimeout(r, 1000));
      expect(received).toHaveLength(1);
    } finally {
      await client.shutdown();
    }
  });

  it('T-17, T-18: accepts a gzip body and gzips the reply when asked', async () => {
    const uid = newUid();
    const body = agentToServerBytes({
      instanceUid: uid,
      capabilities: 1n,
      agentDescription: description('gz'.repeat(400)),
    });
    const res = await postOpamp(server.opampHttpUrl, gzipSync(body), {
      'content-encoding': 'gzip',
      'accept-encoding': 'gzip',
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-protobuf');
    const reply = fromBinary(ServerToAgentSchema, res.bytes);
    expect(Buffer.from(reply.instanceUid).equals(Buffer.from(uid))).toBe(true);
    expect(has(reply.capabilities, ServerCapability.AcceptsStatus)).toBe(true);
  });

  it('T-16, T-19, T-20: wrong content type is 415, an over-limit body is 413 (also when it only inflates past the limit)', async () => {
    const wrongType = await fetch(server.opampHttpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(wrongType.status).toBe(415);
    const big = Buffer.alloc(70_000, 1);
    expect((await postOpamp(server.opampHttpUrl, big)).status).toBe(413);
    const bomb = gzipSync(Buffer.alloc(200_000, 0));
    expect(bomb.length).toBeLessThan(65_536);
    expect((await postOpamp(server.opampHttpUrl, bomb, { 'content-encoding': 'gzip' })).status).toBe(413);
  });

  it('A-1, ER: a malformed body and a short uid get 400 with a protobuf BadRequest carrying only instance_uid (S-10)', async () => {
    const malformed = await postOpamp(server.opampHttpUrl, Buffer.from([0x0a, 0xff, 0xff]));
    expect(malformed.status).toBe(400);
    const m = fromBinary(ServerToAgentSchema, malformed.bytes);
    expect(m.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
    expect(m.capabilities).toBe(0n);
    expect(m.flags).toBe(0n);

    const shortUid = agentToServerBytes({ instanceUid: new Uint8Array(5) });
    const s = await postOpamp(server.opampHttpUrl, shortUid);
    expect(s.status).toBe(400);
    expect(fromBinary(ServerToAgentSchema, s.bytes).errorResponse?.errorMessage).toMatch(/16/);
  });
});

describe('the agent simulator over WebSocket', () => {
  it('R-1, R-2, A-9: reports health and effective config, applies a pushed remote config and reports APPLIED with the new effective config', async () => {
    const agent = createSimAgent({
      url: server.opampWsUrl,
      description: { identifying: { 'service.name': 'sim-ws' }, nonIdentifying: { 'host.name': 'sim-host' } },
      health: {
        healthy: true,
        status: 'StatusOK',
        componentHealthMap: { 'pipeline:metrics': { healthy: true } },
      },
      effectiveConfig: { '': { body: 'receivers: {}\n', contentType: 'text/yaml' } },
      applyMode: 'apply',
    });
    await agent.start();
    try {
      const summary = await agentByUid(api, uuidToString(agent.instanceUid));
      const before = await eventually(async () => {
        const d = await api(`/api/agents/${summary.id}`);
        return d.body.health && d.body.effectiveConfig ? d.body : undefined;
      });
      expect(before).toMatchObject({ agentType: 'sim-ws', hostName: 'sim-host', transport: 'websocket' });
      expect(before.health.children[0]).toMatchObject({ name: 'pipeline:metrics', healthy: true });
      expect(before.effectiveConfig.hash).toBe(agent.effectiveConfigHash);

      const applied = new Promise((resolve) => agent.once('remoteConfig', resolve));
      const push = await api(`/api/_test/agents/${summary.id}/remote-config`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          files: { '': { body: 'exporters: {debug: {}}\n', contentType: 'text/yaml' } },
        }),
      });
      // WebSocket: pushed at once, not left for the next message (S-12).
      expect(push.body).toEqual({ status: 'pushed' });
      await applied;
      const after = await eventually(async () => {
        const d = await api(`/api/agents/${summary.id}`);
        return d.body.remoteConfigStatus?.status === 'RemoteConfigStatuses_APPLIED' ? d.body : undefined;
      });
      expect(after.effectiveConfig.files['']).toMatchObject({ body: 'exporters: {debug: {}}\n' });
      expect(after.effectiveConfigHash).toBe(agent.effectiveConfigHash);
    } finally {
      await agent.stop();
    }
  });

  it('a simulated apply failure is reported as FAILED with its message, and the effective config is unchanged', async () => {
    const agent = createSimAgent({
      url: server.opampWsUrl,
      description: { identifying: { 'service.name': 'sim-ws-fail' } },
      applyMode: 'fail',
      failMessage: 'exporter "otlp/missing" is not defined',
    });
    await agent.start();
    try {
      const summary = await agentByUid(api, uuidToString(agent.instanceUid));
      const hashBefore = agent.effectiveConfigHash;
      await api(`/api/_test/agents/${summary.id}/remote-config`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ files: { '': { body: 'service: {}\n', contentType: 'text/yaml' } } }),
      });
      const failed = await eventually(async () => {
        const d = await api(`/api/agents/${summary.id}`);
        return d.body.remoteConfigStatus?.status === 'RemoteConfigStatuses_FAILED' ? d.body : undefined;
      });
      expect(failed.remoteConfigStatus.errorMessage).toBe('exporter "otlp/missing" is not defined');
      expect(agent.effectiveConfigHash).toBe(hashBefore);
    } finally {
      await agent.stop();
    }
  });

  it('an empty config map is refused and never sent', async () => {
    const agent = createSimAgent({
      url: server.opampWsUrl,
      description: { identifying: { 'service.name': 'sim-empty' } },
    });
    await agent.start();
    try {
      const summary = await agentByUid(api, uuidToString(agent.instanceUid));
      const res = await api(`/api/_test/agents/${summary.id}/remote-config`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ files: {} }),
      });
      expect(res.status).toBe(409);
      expect(agent.received.some((m) => m.remoteConfig)).toBe(false);
    } finally {
      await agent.stop();
    }
  });
});

describe('OpAMP over WebSocket', () => {
  it('T-4, S-4, A-9: reports description, health and effective config; the detail API decodes the health tree', async () => {
    const agent = await RawWsAgent.connect(server.opampWsUrl);
    const uid = newUid();
    agent.send({
      instanceUid: uid,
      sequenceNum: 0n,
      capabilities:
        AgentCapability.ReportsStatus |
        AgentCapability.ReportsHealth |
        AgentCapability.ReportsEffectiveConfig,
      agentDescription: description('ws-e2e'),
      health: {
        healthy: true,
        status: 'StatusOK',
        startTimeUnixNano: 1_700_000_000_000_000_000n,
        componentHealthMap: {
          'pipeline:traces': {
            healthy: true,
            status: 'StatusOK',
            componentHealthMap: { 'receiver:otlp': { healthy: true } },
          },
          'pipeline:logs': {
            healthy: false,
            status: 'StatusRecoverableError',
            lastError: 'exporter queue full',
          },
        },
      },
      effectiveConfig: {
        configMap: { configMap: { '': { body: Buffer.from('receivers: {}\n'), contentType: 'text/yaml' } } },
      },
    });
    const first = await agent.waitFor(1);
    expect(has(first.capabilities, ServerCapability.AcceptsStatus)).toBe(true);
    expect(first.capabilities & ~0x7fn).toBe(0n); // S-5

    const summary = await agentByUid(api, uuidToString(uid));
    const detail = await eventually(async () => {
      const d = await api(`/api/agents/${summary.id}`);
      return d.body.health ? d.body : undefined;
    });
    expect(detail).toMatchObject({
      agentType: 'ws-e2e',
      hostName: 'host-a',
      transport: 'websocket',
      healthy: true,
    });
    expect(detail.health.children.map((c: any) => c.name)).toEqual(['pipeline:logs', 'pipeline:traces']);
    expect(detail.health.children[0]).toMatchObject({ healthy: false, lastError: 'exporter queue full' });
    expect(detail.health.children[1].children[0]).toMatchObject({ name: 'receiver:otlp', healthy: true });
    expect(detail.health.startTime).toBe('2023-11-14T22:13:20.000Z');
    expect(detail.effectiveConfig.files['']).toEqual({
      contentType: 'text/yaml',
      body: 'receivers: {}\n',
      encoding: 'utf8',
    });
    expect(detail.effectiveConfig.hash).toMatch(/^[0-9a-f]{64}$/);

    // A later health report replaces the tree whole; the omitted description stays.
    agent.send({ instanceUid: uid, sequenceNum: 1n, health: { healthy: false, status: 'down' } });
    await agent.waitFor(2);
    const after = await eventually(async () => {
      const d = await api(`/api/agents/${summary.id}`);
      return d.body.healthy === false ? d.body : undefined;
    });
    expect(after.health.children).toEqual([]);
    expect(after.agentType).toBe('ws-e2e');
    agent.close();
  });

  it('A-6: a gap in sequence_num makes the reply ask for the full state', async () => {
    const agent = await RawWsAgent.connect(server.opampWsUrl);
    const uid = newUid();
    agent.send({ instanceUid: uid, sequenceNum: 0n, capabilities: 1n, agentDescription: description('gap') });
    const r1 = await agent.waitFor(1);
    expect(r1.flags & ServerToAgentFlag.ReportFullState).toBe(0n);
    agent.send({ instanceUid: uid, sequenceNum: 1n });
    expect((await agent.waitFor(2)).flags & ServerToAgentFlag.ReportFullState).toBe(0n);
    agent.send({ instanceUid: uid, sequenceNum: 5n });
    expect((await agent.waitFor(3)).flags & ServerToAgentFlag.ReportFullState).toBe(
      ServerToAgentFlag.ReportFullState,
    );
    agent.close();
  });

  it('A-10, A-11, A-12: RequestInstanceUid is answered with a 16-byte UUIDv7', async () => {
    const agent = await RawWsAgent.connect(server.opampWsUrl);
    agent.send({
      instanceUid: newUid(),
      sequenceNum: 0n,
      capabilities: 1n,
      flags: 1n,
      agentDescription: description('ask-uid'),
    });
    const r = await agent.waitFor(1);
    const assigned = r.agentIdentification?.newInstanceUid;
    expect(assigned?.length).toBe(16);
    expect((assigned![6]! & 0xf0) >> 4).toBe(7);
    agent.close();
  });

  it('T-6, T-8, A-1, bad enum, malformed: each bad frame gets BadRequest while a well-behaved agent keeps working', async () => {
    const good = await RawWsAgent.connect(server.opampWsUrl);
    const goodUid = newUid();
    good.send({
      instanceUid: goodUid,
      sequenceNum: 0n,
      capabilities: 1n,
      agentDescription: description('good'),
    });
    await good.waitFor(1);

    const bad = await RawWsAgent.connect(server.opampWsUrl);
    const badUid = newUid();
    bad.send({
      instanceUid: badUid,
      sequenceNum: 0n,
      capabilities: 1n,
      agentDescription: description('bad'),
    });
    await bad.waitFor(1);
    const cases: Array<[string, () => void]> = [
      ['text frame', () => bad.sendRaw('hello', false)],
      ['header not 0', () => bad.sendRaw(Buffer.from([0x05, 0x0a, 0x00]))],
      ['malformed protobuf', () => bad.sendRaw(Buffer.from([0x00, 0x0a, 0xff, 0xff, 0xff]))],
      ['uid of 3 bytes', () => bad.send({ instanceUid: new Uint8Array(3) })],
      [
        'unknown enum value',
        () =>
          bad.send({
            instanceUid: badUid,
            sequenceNum: 1n,
            remoteConfigStatus: { status: 42 as PbRemoteConfigStatuses },
          }),
      ],
    ];
    let n = 1;
    for (const [label, act] of cases) {
      act();
      const reply = await bad.waitFor(++n);
      expect(reply.errorResponse?.type, label).toBe(
        ServerErrorResponseType.ServerErrorResponseType_BadRequest,
      );
      expect(reply.capabilities, label).toBe(0n);
      // The well-behaved agent is still served after each one.
      good.send({ instanceUid: goodUid, sequenceNum: BigInt(n - 1) });
      const ok = await good.waitFor(n);
      expect(ok.errorResponse, label).toBeUndefined();
    }

    const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
    for (const reason of ['text_frame', 'bad_header', 'malformed', 'bad_uid', 'bad_enum']) {
      expect(metrics).toMatch(new RegExp(`ampora_opamp_frames_rejected_total\\{reason="${reason}"\\} [1-9]`));
    }
    bad.close();
    good.close();
  });

  it('T-10, T-12: an over-limit message closes that stream with 1009 and nothing else', async () => {
    const good = await RawWsAgent.connect(server.opampWsUrl);
    const goodUid = newUid();
    good.send({ instanceUid: goodUid, sequenceNum: 0n, capabilities: 1n });
    await good.waitFor(1);
    const big = await RawWsAgent.connect(server.opampWsUrl);
    big.sendRaw(Buffer.alloc(70_000, 0));
    expect(await big.waitForClose()).toBe(1009);
    good.send({ instanceUid: goodUid, sequenceNum: 1n });
    expect((await good.waitFor(2)).errorResponse).toBeUndefined();
    good.close();
  });

  it('C-4, C-5: agent_disconnect and a closed stream mark the agent disconnected', async () => {
    const agent = await RawWsAgent.connect(server.opampWsUrl);
    const uid = newUid();
    agent.send({ instanceUid: uid, sequenceNum: 0n, capabilities: 1n, agentDescription: description('bye') });
    await agent.waitFor(1);
    const summary = await agentByUid(api, uuidToString(uid));
    expect((await api(`/api/agents/${summary.id}`)).body.connected).toBe(true);
    agent.send({ instanceUid: uid, sequenceNum: 1n, agentDisconnect: {} });
    await agent.waitFor(2);
    await eventually(async () =>
      (await api(`/api/agents/${summary.id}`)).body.connected === false ? true : undefined,
    );
    agent.close();
  });

  it('filters the agent list by connection state, capability and attribute, with cursor pagination', async () => {
    const agents = await Promise.all([0, 1, 2].map(() => RawWsAgent.connect(server.opampWsUrl)));
    const uids = agents.map(() => newUid());
    agents.forEach((a, i) =>
      a.send({
        instanceUid: uids[i],
        sequenceNum: 0n,
        capabilities: AgentCapability.ReportsStatus | (i === 0 ? AgentCapability.AcceptsRemoteConfig : 0n),
        agentDescription: description(`filter-${i}`),
      }),
    );
    await Promise.all(agents.map((a) => a.waitFor(1)));
    for (const u of uids) await agentByUid(api, uuidToString(u));

    const byAttr = await api('/api/agents?attribute=service.name=filter-1');
    expect(byAttr.body.items.map((a: any) => a.instanceUid)).toEqual([uuidToString(uids[1]!)]);
    const byCap = await api('/api/agents?capability=AcceptsRemoteConfig&attribute=service.name=filter-0');
    expect(byCap.body.items).toHaveLength(1);
    const none = await api('/api/agents?capability=AcceptsRemoteConfig&attribute=service.name=filter-2');
    expect(none.body.items).toHaveLength(0);
    expect((await api('/api/agents?capability=NoSuchThing')).status).toBe(400);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await api(`/api/agents?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((a: any) => a.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    const all = await api('/api/agents?limit=500');
    expect(seen).toEqual(all.body.items.map((a: any) => a.id));
    agents.forEach((a) => a.close());
  });

  it('an unknown agent id answers 404 problem+json', async () => {
    const res = await fetch(`${server.httpUrl}/api/agents/0190f0f0-0000-7000-8000-000000000000`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
  });
});
