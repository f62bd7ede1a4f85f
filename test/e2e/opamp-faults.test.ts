import { sql } from 'kysely';
import { DEFAULT_TENANT_ID } from '@ampora/db';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AgentCapability,
  ServerErrorResponseType,
  ServerToAgentFlag,
  ServerToAgentSchema,
  fromBinary,
  uuidToString,
} from '@ampora/opamp';
import { auditRows } from '../support/audit-rows.js';
import { eventually } from '../support/eventually.js';
import { agentDescription, OPEN_GATEWAY_ENV } from '../support/opamp-fixtures.js';
import { agentToServerBytes, newUid, postOpamp, RawWsAgent } from '../support/raw-opamp.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { startTrustServer, type TrustServer } from '../support/trust-fixture.js';

/**
 * Failures of the server's own (the database refusing a statement, as when it is away or
 * misconfigured) are the agent's to retry, not to be blamed for: the answer is Unavailable with
 * retry_info (503 and Retry-After over HTTP), the agent's session keeps working once the fault is
 * gone, other agents are served meanwhile, and nothing is consumed (a bootstrap token stays good).
 * The fault is injected by revoking one privilege from the server's database role.
 */
const CAPS = AgentCapability.ReportsStatus | AgentCapability.ReportsHealth;
const unavailable = ServerErrorResponseType.ServerErrorResponseType_Unavailable;

async function asOwner(server: ServerProcess, statement: string) {
  await sql.raw(statement).execute(server.database.owner);
}

describe('a failure of the server while it handles a message', () => {
  let server: ServerProcess;
  const grants: string[] = [];

  beforeAll(async () => {
    server = await startServerProcess({
      ...OPEN_GATEWAY_ENV,
      AMPORA_OPAMP_FLUSH_INTERVAL_MS: '50',
      AMPORA_OPAMP_RETRY_AFTER_SECONDS: '7',
    });
  }, 90_000);
  afterEach(async () => {
    for (const g of grants.splice(0)) await asOwner(server, g);
  });
  afterAll(async () => {
    await server?.stop();
  });

  async function fault(table: string, privilege: string) {
    await asOwner(server, `revoke ${privilege} on ${table} from ampora_app`);
    grants.push(`grant ${privilege} on ${table} to ampora_app`);
  }

  it('answers Unavailable with retry_info, serves other agents, and serves the agent again once it passes', async () => {
    const steady = await RawWsAgent.connect(server.opampWsUrl);
    const steadyUid = newUid();
    steady.send({
      instanceUid: steadyUid,
      sequenceNum: 0n,
      capabilities: BigInt(CAPS),
      agentDescription: agentDescription('steady'),
    });
    expect((await steady.waitFor(1)).errorResponse).toBeUndefined();

    // A new agent's first message needs its assignment read from `agents`, after the session took it.
    await fault('agents', 'select');
    const hit = await RawWsAgent.connect(server.opampWsUrl);
    const uid = newUid();
    hit.send({
      instanceUid: uid,
      sequenceNum: 0n,
      capabilities: BigInt(CAPS),
      agentDescription: agentDescription('hit'),
    });
    const refused = await hit.waitFor(1);
    expect(refused.errorResponse?.type).toBe(unavailable);
    expect(refused.errorResponse?.Details.case).toBe('retryInfo');
    expect(refused.errorResponse?.Details.value).toMatchObject({ retryAfterNanoseconds: 7_000_000_000n });
    expect(Buffer.from(refused.instanceUid)).toEqual(Buffer.from(uid));

    // An agent whose session is loaded is still served during the fault.
    steady.send({ instanceUid: steadyUid, sequenceNum: 1n, capabilities: BigInt(CAPS) });
    expect((await steady.waitFor(2)).errorResponse).toBeUndefined();

    for (const g of grants.splice(0)) await asOwner(server, g);
    // The same stream goes on: the session is not left waiting for the reply it never sent, and
    // it asks for the full state it could not take in.
    hit.send({
      instanceUid: uid,
      sequenceNum: 1n,
      capabilities: BigInt(CAPS),
      agentDescription: agentDescription('hit'),
    });
    const served = await hit.waitFor(2);
    expect(served.errorResponse).toBeUndefined();
    expect(served.flags & BigInt(ServerToAgentFlag.ReportFullState)).not.toBe(0n);

    const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/ampora_opamp_frames_rejected_total\{reason="server_error"\} [1-9]/);
    expect(server.logs.some((l) => l.includes('OpAMP message could not be processed'))).toBe(true);
    steady.close();
    hit.close();
  });

  it('still refuses an enrolled agent’s uid to an anonymous stream after a failed ownership check', async () => {
    const uid = newUid();
    await server.database.owner.transaction().execute(async (tx) => {
      await sql`select set_config('app.tenant_id', ${DEFAULT_TENANT_ID}, true)`.execute(tx);
      await sql`insert into agent_identities (tenant_id, id, instance_uid, key_origin, enrolled_at)
        values (${DEFAULT_TENANT_ID}, ${uuidToString(newUid())}, ${Buffer.from(uid)}, 'server', now())`.execute(
        tx,
      );
    });
    await fault('agent_identities', 'select');
    const impostor = await RawWsAgent.connect(server.opampWsUrl);
    impostor.send({ instanceUid: uid, sequenceNum: 0n, capabilities: BigInt(CAPS) });
    expect((await impostor.waitFor(1)).errorResponse?.type).toBe(unavailable);

    for (const g of grants.splice(0)) await asOwner(server, g);
    impostor.send({ instanceUid: uid, sequenceNum: 1n, capabilities: BigInt(CAPS) });
    const refused = await impostor.waitFor(2);
    expect(refused.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
    expect(refused.errorResponse?.errorMessage).toMatch(/belongs to an enrolled agent/);
    expect(await impostor.waitForClose()).toBe(1008);
  });

  it('answers an HTTP poll with 503, Retry-After and Unavailable, and 200 once the fault passes', async () => {
    // An anonymous agent's first poll checks that its uid is not an enrolled agent's.
    await fault('agent_identities', 'select');
    const uid = newUid();
    const body = agentToServerBytes({
      instanceUid: uid,
      sequenceNum: 0n,
      capabilities: BigInt(CAPS),
      agentDescription: agentDescription('poller'),
    });
    const refused = await postOpamp(server.opampHttpUrl, body);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('7');
    const reply = fromBinary(ServerToAgentSchema, refused.bytes);
    expect(reply.errorResponse?.type).toBe(unavailable);
    expect(reply.errorResponse?.Details.case).toBe('retryInfo');

    for (const g of grants.splice(0)) await asOwner(server, g);
    const served = await eventually(async () => {
      const r = await postOpamp(server.opampHttpUrl, body);
      return r.status === 200 ? r : undefined;
    });
    expect(fromBinary(ServerToAgentSchema, served.bytes).errorResponse).toBeUndefined();
  });
});

describe('a failure of the server during enrollment', () => {
  let t: TrustServer;

  beforeAll(async () => {
    t = await startTrustServer({ AMPORA_OPAMP_RETRY_AFTER_SECONDS: '1' });
  }, 90_000);
  afterAll(async () => {
    await t?.stop();
  });

  it('is Unavailable, not the agent’s fault: the token is not spent and enrolls once the fault passes', async () => {
    const owner = t.server.database.owner;
    await sql`revoke insert on agent_identities from ampora_app`.execute(owner);
    const token = await t.issueToken('fault');
    const agent = t.sim({ bootstrapToken: token, csr: true, heartbeatIntervalSeconds: 0.2 });
    const errors: Array<{ type: number; retry: boolean }> = [];
    agent.on('serverError', (e) => errors.push({ type: e.type, retry: e.Details.case === 'retryInfo' }));
    const enrolled = t.enroll(agent);
    await eventually(async () => (errors.length > 0 ? true : undefined));
    expect(errors[0]).toEqual({ type: unavailable, retry: true });

    const { rows } = await sql<{
      n: string;
    }>`select count(*) as n from enrollment_tokens where label = 'fault'`.execute(owner);
    expect(Number(rows[0]!.n)).toBe(1);
    const refusals = await auditRows(owner, 'agent.enroll');
    expect(refusals.length).toBe(0);

    await sql`grant insert on agent_identities to ampora_app`.execute(owner);
    // The retry carries the same CSR: the certificate is for the key the agent made.
    const credentials = await enrolled;
    expect(credentials.keyOrigin).toBe('csr');
    const after = await auditRows(owner, 'agent.enroll');
    expect(after.map((r) => r.outcome)).toEqual(['success']);
  });
});
