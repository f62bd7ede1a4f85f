import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  AgentCapability,
  ServerErrorResponseType,
  ServerToAgentSchema,
  fromBinary,
  uuidToString,
} from '@ampora/opamp';
import { agentToServerBytes, newUid, postOpamp, RawWsAgent, wsUpgrade } from '../support/raw-opamp.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { eventually } from '../support/eventually.js';
import { apiOf } from '../support/http.js';
import { agentByUid, agentDescription, OPEN_GATEWAY_ENV } from '../support/opamp-fixtures.js';

/**
 * Agent lifecycle over the real server process: heartbeat windows, session limits and graceful
 * shutdown. Each block starts its own server, since each needs settings the others must not see.
 */

const HEARTBEATING =
  AgentCapability.ReportsStatus |
  AgentCapability.ReportsHeartbeat |
  AgentCapability.AcceptsOpAMPConnectionSettings;

function agentsApi(server: () => ServerProcess) {
  const get = apiOf(server);
  return {
    get,
    /** The agent's detail, once the gateway has written it. */
    async agent(uid: Uint8Array): Promise<any> {
      const summary = await agentByUid(get, uuidToString(uid));
      return (await get(`/api/agents/${summary.id}`)).body;
    },
  };
}

/** Opens a WebSocket agent and has it report once; resolves with the agent and the first reply. */
async function connectAgent(url: string, uid: Uint8Array, capabilities: bigint, name: string) {
  const agent = await RawWsAgent.connect(url);
  agent.send({ instanceUid: uid, sequenceNum: 0n, capabilities, agentDescription: agentDescription(name) });
  return { agent, uid, first: await agent.waitFor(1) };
}

describe('heartbeats', () => {
  let server: ServerProcess;
  const api = agentsApi(() => server);

  beforeAll(async () => {
    server = await startServerProcess({
      ...OPEN_GATEWAY_ENV,
      AMPORA_OPAMP_FLUSH_INTERVAL_MS: '50',
      AMPORA_OPAMP_HEARTBEAT_INTERVAL_SECONDS: '1',
      AMPORA_OPAMP_HEARTBEAT_WINDOW_SECONDS: '2',
    });
  }, 90_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('N-25, N-27, N-28, C-3: a heartbeating agent is offered the interval and closed once silent past the window; a quiet agent without ReportsHeartbeat stays connected', async () => {
    // The quiet agent starts first, so at every sweep it has been silent longer than the other.
    const quietUid = newUid();
    const quiet = await connectAgent(
      server.opampWsUrl,
      quietUid,
      AgentCapability.ReportsStatus | AgentCapability.AcceptsOpAMPConnectionSettings,
      'quiet',
    );
    // N-27, N-28: no interval is imposed on an agent that does not report heartbeats.
    expect(quiet.first.errorResponse).toBeUndefined();
    expect(quiet.first.connectionSettings).toBeUndefined();

    const beatingUid = newUid();
    const beating = await connectAgent(server.opampWsUrl, beatingUid, HEARTBEATING, 'beating');
    const offer = beating.first.connectionSettings?.opamp;
    expect(offer?.heartbeatIntervalSeconds).toBe(1n);
    expect(offer?.destinationEndpoint).toBe(server.opampWsUrl);

    // A WebSocket ping is answered at the transport level.
    const pong = once(beating.agent.ws, 'pong');
    beating.agent.ws.ping(Buffer.from('are you there'));
    const [payload] = (await pong) as [Buffer];
    expect(payload.toString()).toBe('are you there');

    // One heartbeat (no status sections), then silence.
    beating.agent.send({ instanceUid: beatingUid, sequenceNum: 1n });
    expect((await beating.agent.waitFor(2)).errorResponse).toBeUndefined();
    expect((await api.agent(beatingUid)).connected).toBe(true);

    // Window 2 s, plus up to one sweep period (5 s), plus slack.
    expect(await beating.agent.waitForClose(12_000)).toBe(1000);
    await eventually(async () => ((await api.agent(beatingUid)).connected === false ? true : undefined));

    // The quiet agent went through the same sweeps and is still served.
    expect(quiet.agent.closeCode).toBeUndefined();
    expect(quiet.agent.ws.readyState).toBe(WebSocket.OPEN);
    expect((await api.agent(quietUid)).connected).toBe(true);
    quiet.agent.send({ instanceUid: quietUid, sequenceNum: 1n });
    expect((await quiet.agent.waitFor(2)).errorResponse).toBeUndefined();
    quiet.agent.close();
  }, 25_000);
});

/** Tries a WebSocket upgrade that should be refused; resolves with the refusal's status and headers. */
async function refusedUpgrade(url: string): Promise<{ status?: number; retryAfter?: string | string[] }> {
  const upgrade = await wsUpgrade(url);
  if (upgrade.ws) {
    upgrade.ws.close();
    throw new Error('the upgrade was accepted');
  }
  return { status: upgrade.status, retryAfter: upgrade.headers['retry-after'] };
}

describe('session limit', () => {
  let server: ServerProcess;

  beforeAll(async () => {
    server = await startServerProcess({
      ...OPEN_GATEWAY_ENV,
      AMPORA_OPAMP_FLUSH_INTERVAL_MS: '50',
      AMPORA_OPAMP_MAX_SESSIONS: '2',
    });
  }, 90_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('TH-3, TH-4, TH-5, ER-5, S-10: above max sessions a WebSocket upgrade gets 503 + Retry-After and an HTTP agent gets 503 with Unavailable and retry_info, while the admitted agents keep working', async () => {
    const uids = [newUid(), newUid()];
    const admitted = await Promise.all(
      uids.map((uid, i) => connectAgent(server.opampWsUrl, uid, AgentCapability.ReportsStatus, `kept-${i}`)),
    );
    for (const a of admitted) expect(a.first.errorResponse).toBeUndefined();

    // Refused before the upgrade: a plain HTTP answer, never a WebSocket close.
    const ws = await refusedUpgrade(server.opampWsUrl);
    expect(ws).toEqual({ status: 503, retryAfter: '30' });

    const body = agentToServerBytes({
      instanceUid: newUid(),
      sequenceNum: 0n,
      capabilities: AgentCapability.ReportsStatus,
      agentDescription: agentDescription('third'),
    });
    const http = await postOpamp(server.opampHttpUrl, body);
    expect(http.status).toBe(503);
    expect(http.headers.get('retry-after')).toBe('30');
    expect(http.headers.get('content-type')).toBe('application/x-protobuf');
    const refusal = fromBinary(ServerToAgentSchema, http.bytes);
    expect(refusal.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_Unavailable);
    expect(refusal.errorResponse?.Details.case).toBe('retryInfo');
    expect(refusal.errorResponse?.Details.value?.retryAfterNanoseconds).toBe(30_000_000_000n);
    expect(refusal.capabilities).toBe(0n);
    expect(refusal.flags).toBe(0n);

    // The admitted agents are served as before.
    for (const [i, a] of admitted.entries()) {
      a.agent.send({ instanceUid: uids[i], sequenceNum: 1n });
      const reply = await a.agent.waitFor(2);
      expect(reply.errorResponse).toBeUndefined();
      expect(Buffer.from(reply.instanceUid).equals(Buffer.from(uids[i]!))).toBe(true);
      expect(a.agent.closeCode).toBeUndefined();
    }

    const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^ampora_opamp_connections_refused_total\{reason="max_sessions"\} 2$/m);
    expect(metrics).toMatch(/^ampora_opamp_active_sessions\{transport="websocket"\} 2$/m);
    admitted.forEach((a) => a.agent.close());
  });

  it('TH-3: agents on both transports count toward one limit, and a second agent on an admitted stream is refused too', async () => {
    // Wait for the previous test's streams to be released.
    await eventually(async () => {
      const m = await (await fetch(`${server.httpUrl}/metrics`)).text();
      return /^ampora_opamp_active_sessions\{transport="websocket"\} 0$/m.test(m) ? true : undefined;
    }, 5000);
    const wsAgent = await connectAgent(
      server.opampWsUrl,
      newUid(),
      AgentCapability.ReportsStatus,
      'mixed-ws',
    );
    expect(wsAgent.first.errorResponse).toBeUndefined();
    const httpBody = agentToServerBytes({
      instanceUid: newUid(),
      sequenceNum: 0n,
      capabilities: AgentCapability.ReportsStatus,
      agentDescription: agentDescription('mixed-http'),
    });
    expect((await postOpamp(server.opampHttpUrl, httpBody)).status).toBe(200);

    // One WebSocket and one HTTP agent fill the limit of two: a new upgrade is refused.
    expect(await refusedUpgrade(server.opampWsUrl)).toEqual({ status: 503, retryAfter: '30' });

    // A further agent multiplexed on the admitted stream is answered Unavailable, not admitted.
    wsAgent.agent.send({
      instanceUid: newUid(),
      sequenceNum: 0n,
      capabilities: AgentCapability.ReportsStatus,
    });
    const reply = await wsAgent.agent.waitFor(2);
    expect(reply.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_Unavailable);
    expect(reply.errorResponse?.Details.case).toBe('retryInfo');
    // The admitted agent on that stream is still served.
    wsAgent.agent.send({ instanceUid: wsAgent.uid, sequenceNum: 1n });
    expect((await wsAgent.agent.waitFor(3)).errorResponse).toBeUndefined();
    wsAgent.agent.close();
  });
});

describe('graceful shutdown', () => {
  let server: ServerProcess;

  beforeAll(async () => {
    server = await startServerProcess({
      ...OPEN_GATEWAY_ENV,
      // Nothing reaches Postgres during the test except what shutdown flushes.
      AMPORA_OPAMP_FLUSH_INTERVAL_MS: '60000',
    });
  }, 90_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('N-25, N-26: with default settings a heartbeating agent is offered the recommended 30 s', async () => {
    const { agent, first } = await connectAgent(server.opampWsUrl, newUid(), HEARTBEATING, 'default-beat');
    expect(first.connectionSettings?.opamp?.heartbeatIntervalSeconds).toBe(30n);
    agent.close();
  });

  it('C-3, C-5: SIGTERM closes agent streams with 1001, exits 0 and writes the last reported state first', async () => {
    const uid = newUid();
    const { agent } = await connectAgent(
      server.opampWsUrl,
      uid,
      AgentCapability.ReportsStatus | AgentCapability.ReportsHealth,
      'shutdown',
    );
    const reports = [
      { healthy: false, status: 'StatusRecoverableError', lastError: 'exporter queue full' },
      { healthy: true, status: 'StatusOK' },
      { healthy: false, status: 'StatusPermanentError', lastError: 'exporter rejected credentials' },
    ];
    for (const [i, health] of reports.entries()) {
      agent.send({ instanceUid: uid, sequenceNum: BigInt(i + 1), health });
      expect((await agent.waitFor(i + 2)).errorResponse).toBeUndefined();
    }

    const rowOf = () =>
      server.database.owner
        .selectFrom('agents')
        .select(['sequence_num', 'healthy', 'health', 'connected', 'disconnected_at', 'transport'])
        .where('instance_uid', '=', Buffer.from(uid))
        .executeTakeFirst();
    // Still buffered: whatever is found after the exit was written by the shutdown itself.
    expect(await rowOf()).toBeUndefined();

    const closed = once(agent.ws, 'close') as Promise<[number, Buffer]>;
    const exited = once(server.child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    server.child.kill('SIGTERM');
    const [code, reason] = await closed;
    expect(code).toBe(1001);
    expect(reason.toString()).toMatch(/shutting down/);
    expect(await exited).toEqual([0, null]);

    const row = await rowOf();
    expect(row).toMatchObject({
      sequence_num: 3,
      healthy: false,
      // The proto3 JSON form, which leaves out `healthy: false` (a default value).
      health: { status: 'StatusPermanentError', lastError: 'exporter rejected credentials' },
      connected: false,
      transport: 'websocket',
    });
    expect(row?.disconnected_at).toBeInstanceOf(Date);
  }, 30_000);
});
