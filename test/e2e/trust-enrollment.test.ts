import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { sql } from 'kysely';
import type WebSocket from 'ws';
import { createOpAMPClient } from '@elastic/opamp-client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimAgent, type SimAgentOptions } from '@ampora/agent-sim';
import { generateToken } from '@ampora/authz';
import {
  AgentCapability,
  ServerErrorResponseType,
  ServerToAgentSchema,
  decodeFrame,
  encodeFrame,
  fromBinary,
  uuidToString,
  type AgentToServerSchema,
  type MessageInitShape,
  type ServerToAgent,
} from '@ampora/opamp';
import { workdir } from '../../packages/pki/src/testing/openssl.js';
import { agentToServerBytes, newUid, wsUpgrade } from '../support/raw-opamp.js';
import { auditRows as auditRowsOf } from '../support/audit-rows.js';
import { eventually as eventuallyWithin } from '../support/eventually.js';
import { jsonPost, type Api } from '../support/http.js';
import { agentByUid as agentByUidIn } from '../support/opamp-fixtures.js';
import { type ServerProcess } from '../support/server-process.js';
import { startTrustServer, type TrustServer } from '../support/trust-fixture.js';

let t: TrustServer;
let server: ServerProcess;
let trustBundle: string;
let wssUrl: string;
let httpsUrl: string;
let api: Api;

beforeAll(async () => {
  t = await startTrustServer({ AMPORA_CA_STATUS_CACHE_SECONDS: '0' });
  ({ server, trustBundle, wssUrl, httpsUrl, api } = t);
}, 90_000);

afterAll(async () => {
  await t?.stop();
});

const post = (p: string, body: unknown, headers: Record<string, string> = {}) =>
  api(p, jsonPost(body, headers));

const eventually = <T>(fn: () => Promise<T | undefined>) => eventuallyWithin(fn, 10_000);

const issueToken = (label = 'e2e', extra: Record<string, unknown> = {}) => t.issueToken(label, extra);

const sim = (options: Partial<SimAgentOptions>): SimAgent =>
  t.sim({ heartbeatIntervalSeconds: 30, ...options });

/** Enrolls a simulated agent and waits until it runs on its issued certificate. */
async function enroll(options: Partial<SimAgentOptions> = {}): Promise<SimAgent> {
  const agent = sim({ bootstrapToken: await issueToken(), ...options });
  await t.enroll(agent);
  return agent;
}

const auditRows = (action: string) => auditRowsOf(server.database.owner, action);

/** The agent's row once it shows as connected (the enrollment creates the row before the agent connects). */
const agentByUid = (uid: string) => agentByUidIn(api, uid, { connected: true, timeoutMs: 10_000 });

/** One OpAMP message over WSS with the given client options; resolves with the reply or the HTTP status. */
async function wsExchange(
  options: WebSocket.ClientOptions,
  msg: MessageInitShape<typeof AgentToServerSchema>,
): Promise<{ status: number; reply?: ServerToAgent; closed?: number }> {
  const upgrade = await wsUpgrade(wssUrl, { ca: trustBundle, ...options });
  if (!upgrade.ws) return { status: upgrade.status };
  const ws = upgrade.ws;
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    let reply: ServerToAgent | undefined;
    ws.on('message', (data: Buffer) => {
      const frame = decodeFrame(data);
      if (frame.ok) reply = fromBinary(ServerToAgentSchema, frame.payload);
      setTimeout(() => ws.close(), 200);
    });
    ws.once('close', (code) => resolve({ status: 101, reply, closed: code }));
    ws.send(encodeFrame(agentToServerBytes(msg)));
  });
}

describe('enrollment with a bootstrap token, then mutual TLS', () => {
  it('CSR flow: the agent keeps its key, gets a certificate over WSS, reconnects with mTLS and shows up', async () => {
    const agent = await enroll({ csr: true });
    expect(agent.credentials?.keyOrigin).toBe('csr');
    expect(agent.connected).toBe(true);
    const summary = await agentByUid(uuidToString(agent.instanceUid));
    expect(summary.connected).toBe(true);
    // Every later message rides on the certificate, not the (now redeemed) token.
    const reply = await agent.report();
    expect(reply?.errorResponse).toBeUndefined();
    const [event] = (await auditRows('agent.enroll')).filter((r) => r.entity_id === summary.id);
    expect(event).toMatchObject({ outcome: 'success', actor_kind: 'agent' });
    expect(event!.after).toMatchObject({ keyOrigin: 'csr', fingerprint: agent.credentials!.fingerprint });
    const certs = await api(`/api/pki/certificates?agentId=${summary.id}`);
    expect(certs.body.items.map((c: any) => c.fingerprint ?? c.fingerprintSha256)).toContain(
      agent.credentials!.fingerprint,
    );
  });

  it('server-generated key over HTTPS polling: the key arrives with the certificate, and the agent switches to mTLS', async () => {
    const agent = await enroll({ url: httpsUrl, csr: false });
    expect(agent.credentials?.keyOrigin).toBe('server');
    expect(agent.credentials?.keyPem).toMatch(/BEGIN PRIVATE KEY/);
    const reply = await agent.report();
    expect(reply?.errorResponse).toBeUndefined();
    const summary = await agentByUid(uuidToString(agent.instanceUid));
    expect(summary.connected).toBe(true);
  });

  it('the enrollment offer carries destination endpoint, heartbeat interval, CA and a hash', async () => {
    const agent = sim({ bootstrapToken: await issueToken(), csr: true });
    const offered = new Promise<any>((resolve) => agent.once('connectionSettings', resolve));
    await agent.start();
    const offers = await offered;
    expect(offers.hash.length).toBe(32);
    expect(offers.opamp.destinationEndpoint).toBe(wssUrl);
    expect(offers.opamp.heartbeatIntervalSeconds).toBe(30n);
    expect(Buffer.from(offers.opamp.certificate.caCert).toString()).toContain('BEGIN CERTIFICATE');
    expect(offers.opamp.certificate.privateKey.length).toBe(0); // CSR flow: no key from the server
  });

  it('@elastic/opamp-client-node works against the mTLS listener with a certificate obtained through enrollment', async () => {
    const enrolled = await enroll({ url: httpsUrl, csr: false });
    const creds = enrolled.credentials!;
    await enrolled.stop({ graceful: true });
    const client = createOpAMPClient({
      endpoint: httpsUrl,
      heartbeatIntervalSeconds: 0.3,
      instanceUid: uuidToString(enrolled.instanceUid),
      connect: { ca: trustBundle, cert: creds.certPem, key: creds.keyPem },
      capabilities: AgentCapability.ReportsStatus,
    } as any);
    client.setAgentDescription({ identifyingAttributes: { 'service.name': 'elastic-mtls' } });
    client.start();
    try {
      await agentByUidIn(api, uuidToString(enrolled.instanceUid), {
        where: (a) => a.agentType === 'elastic-mtls',
        timeoutMs: 10_000,
      });
    } finally {
      await client.shutdown();
    }
  });

  it('C-2: openssl s_client without a client certificate cannot complete an OpAMP exchange (401)', async () => {
    const body = agentToServerBytes({ instanceUid: newUid(), capabilities: 1n });
    const requestText =
      `POST /v1/opamp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n` +
      `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        'openssl',
        ['s_client', '-connect', `127.0.0.1:${server.opampPort}`, '-quiet', '-ign_eof'],
        {
          stdio: ['pipe', 'pipe', 'pipe'],
        },
      );
      let text = '';
      child.stdout.on('data', (c: Buffer) => (text += c.toString('latin1')));
      child.on('error', reject);
      child.on('close', () => resolve(text));
      child.stdin.write(requestText);
      child.stdin.end(Buffer.from(body));
      setTimeout(() => child.kill(), 8000).unref();
    });
    expect(out).toMatch(/^HTTP\/1\.1 401/m);
    expect(out).toMatch(/client_certificate_required/);
  });
});

describe('refusals: precise errors, audit events, and the server keeps serving others', () => {
  it('a reused token is refused at the handshake with 401 and audited', async () => {
    const token = await issueToken('reuse');
    await enroll({ bootstrapToken: token, csr: true });
    const res = await wsExchange(
      { headers: { authorization: `Bearer ${token}` } },
      { instanceUid: newUid() },
    );
    expect(res.status).toBe(401);
    await eventually(async () =>
      (await auditRows('agent.admission.refused')).find((r) => r.after.reason === 'token_already_used'),
    );
  });

  it('an expired token is refused with 401 and audited', async () => {
    const created = await post('/api/enrollment/tokens', { label: 'expiring', ttlSeconds: 900 });
    await sql`update enrollment_tokens set created_at = now() - interval '2 hours', expires_at = now() - interval '1 hour' where id = ${created.body.id}`.execute(
      server.database.owner,
    );
    const res = await wsExchange(
      { headers: { authorization: `Bearer ${created.body.token}` } },
      { instanceUid: newUid() },
    );
    expect(res.status).toBe(401);
    await eventually(async () =>
      (await auditRows('agent.admission.refused')).find((r) => r.after.reason === 'token_expired'),
    );
    const listed = await api('/api/enrollment/tokens');
    expect(listed.body.items.find((t: any) => t.id === created.body.id)).toMatchObject({ expired: true });
  });

  it('two redemptions of one token racing: exactly one wins, the other gets BadRequest', async () => {
    const token = await issueToken('race');
    const racers = [0, 1, 2].map(() => sim({ bootstrapToken: token, csr: false }));
    const errors: string[] = [];
    racers.forEach((r) => r.on('serverError', (e) => errors.push(e.errorMessage)));
    const results = await Promise.allSettled(racers.map((r) => r.start()));
    const enrolled = await eventually(async () => {
      const n = racers.filter((r) => r.credentials).length;
      const refused = errors.length + results.filter((x) => x.status === 'rejected').length;
      return n + refused === racers.length ? n : undefined;
    });
    expect(enrolled).toBe(1);
    expect(errors.every((m) => /already been used|has expired|already/.test(m))).toBe(true);
  });

  it('a forged token (right format, unknown) is refused with 401 and audited in the default tenant', async () => {
    const res = await wsExchange(
      { headers: { authorization: `Bearer ${generateToken('bootstrap')}` } },
      { instanceUid: newUid() },
    );
    expect(res.status).toBe(401);
    await eventually(async () =>
      (await auditRows('agent.admission.refused')).find((r) => r.after.reason === 'unknown_token'),
    );
  });

  it('a mistyped token (bad checksum) is refused with 401 before any database lookup', async () => {
    const token = generateToken('bootstrap');
    const typo = token.slice(0, 10) + (token[10] === 'a' ? 'b' : 'a') + token.slice(11);
    const res = await wsExchange({ headers: { authorization: `Bearer ${typo}` } }, { instanceUid: newUid() });
    expect(res.status).toBe(401);
    const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/ampora_opamp_admissions_denied_total\{reason="malformed_token"\} [1-9]/);
  });

  it('a CSR with a bad signature gets BadRequest, is audited, and leaves the token usable', async () => {
    const token = await issueToken('bad-csr');
    const good = sim({ bootstrapToken: token, csr: true });
    // Tamper with the CSR the agent is about to send: flip a byte inside the signed part.
    const prepared = (good as any).prepareCsr.bind(good);
    (good as any).prepareCsr = async () => {
      await prepared();
      const csr = Buffer.from((good as any).pendingRequest.opamp.certificateRequest.csr).toString();
      const der = Buffer.from(csr.replace(/-----[^-]+-----|\s/g, ''), 'base64');
      der[der.length - 20] = der[der.length - 20]! ^ 0xff;
      const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
      (good as any).pendingRequest.opamp.certificateRequest.csr = Buffer.from(pem);
    };
    const err = new Promise<any>((resolve) => good.once('serverError', resolve));
    await good.start();
    const e = await err;
    expect(e.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
    expect(e.errorMessage).toMatch(/signature does not verify|not a PEM PKCS#10/);
    await eventually(async () =>
      (await auditRows('agent.enroll')).find((r) => r.outcome === 'denied' && /^csr_/.test(r.after.reason)),
    );
    await good.stop({ graceful: false });
    // Nothing was redeemed: the same token still enrolls.
    await enroll({ bootstrapToken: token, csr: true });
  });

  it('a CSR naming another instance_uid gets BadRequest and is audited', async () => {
    const agent = sim({
      bootstrapToken: await issueToken('uid-mismatch'),
      csr: true,
      csrClaimUid: uuidToString(newUid()),
    });
    const err = new Promise<any>((resolve) => agent.once('serverError', resolve));
    await agent.start();
    expect((await err).errorMessage).toMatch(/names instance_uid .* but the message carries/);
    await eventually(async () =>
      (await auditRows('agent.enroll')).find(
        (r) => r.outcome === 'denied' && r.after.reason === 'csr_uid_mismatch',
      ),
    );
  });

  it('a certificate from another CA is refused at the handshake with 401 and audited', async () => {
    const w = workdir({ timeoutMs: 20_000 });
    try {
      const made = w.openssl(
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        'key.pem',
        '-out',
        'cert.pem',
        '-days',
        '1',
        '-subj',
        '/CN=foreign',
        '-addext',
        `subjectAltName=URI:urn:ampora:tenant:00000000-0000-7000-8000-000000000001:agent:${randomUuid()}`,
      );
      if (made.status !== 0) throw new Error(`openssl req failed:\n${made.output}`);
      const res = await wsExchange(
        { cert: await readFile(w.path('cert.pem')), key: await readFile(w.path('key.pem')) },
        { instanceUid: newUid() },
      );
      expect(res.status).toBe(401);
      await eventually(async () =>
        (await auditRows('agent.admission.refused')).find(
          (r) => r.after.reason === 'certificate_not_trusted',
        ),
      );
    } finally {
      w.remove();
    }
  });

  it('C-2: no credentials at all: 401 over HTTPS and on the WSS upgrade', async () => {
    const res = await wsExchange({}, { instanceUid: newUid() });
    expect(res.status).toBe(401);
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest(
        httpsUrl,
        { method: 'POST', ca: trustBundle, headers: { 'content-type': 'application/x-protobuf' } },
        (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end(Buffer.from(agentToServerBytes({ instanceUid: newUid() })));
    });
    expect(status).toBe(401);
  });

  it("impersonation: agent B with its own certificate claiming agent A's uid is refused and audited; A keeps working", async () => {
    const a = await enroll({ csr: true });
    const b = await enroll({ csr: true });
    const res = await wsExchange(
      { cert: b.credentials!.certPem, key: b.credentials!.keyPem },
      { instanceUid: a.instanceUid, capabilities: 1n },
    );
    expect(res.reply?.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
    expect(res.reply?.errorResponse?.errorMessage).toMatch(/does not match the identity/);
    expect(res.closed).toBe(1008);
    await eventually(async () =>
      (await auditRows('agent.impersonation.refused')).find(
        (r) => r.outcome === 'denied' && r.after.claimedInstanceUid === uuidToString(a.instanceUid),
      ),
    );
    const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/ampora_opamp_impersonation_refused_total [1-9]/);
    // The real owner's session is untouched.
    expect((await a.report())?.errorResponse).toBeUndefined();
    expect(a.connected).toBe(true);
  });

  it('revocation closes the live session within seconds, and the reconnect is refused with 401', async () => {
    const agent = await enroll({ csr: true });
    const summary = await agentByUid(uuidToString(agent.instanceUid));
    const certs = await api(`/api/pki/certificates?agentId=${summary.id}`);
    const cert = certs.body.items[0];
    const closed = new Promise<{ code: number }>((resolve) => agent.once('disconnected', resolve));
    const revoked = await post(`/api/pki/certificates/${cert.id}/revoke`, { reason: 'keyCompromise' });
    expect(revoked.status).toBe(200);
    expect((await closed).code).toBe(1008);
    const res = await wsExchange(
      { cert: agent.credentials!.certPem, key: agent.credentials!.keyPem },
      { instanceUid: agent.instanceUid },
    );
    expect(res.status).toBe(401);
    await eventually(async () =>
      (await auditRows('agent.admission.refused')).find((r) => r.after.reason === 'certificate_revoked'),
    );
  });
});

describe('bootstrap tokens and token pools (REST)', () => {
  it('tokens: created with TTL bounds, listed without secrets, deleted', async () => {
    expect((await post('/api/enrollment/tokens', { label: 'x', ttlSeconds: 60 })).status).toBe(400);
    expect((await post('/api/enrollment/tokens', { label: 'x', ttlSeconds: 700_000 })).status).toBe(400);
    const created = await post('/api/enrollment/tokens', { label: 'listed', group: 'edge' });
    expect(created.body.token).toMatch(/^amp-bs\.[a-z2-7]{52}\.[0-9a-f]{8}$/);
    expect(new Date(created.body.expiresAt).getTime() - new Date(created.body.createdAt).getTime()).toBe(
      86_400_000,
    );
    const list = await api('/api/enrollment/tokens');
    const row = list.body.items.find((t: any) => t.id === created.body.id);
    expect(row).toMatchObject({ label: 'listed', group: 'edge', expired: false });
    expect(JSON.stringify(list.body)).not.toContain(created.body.token);
    const rows = await auditRowsOf(server.database.owner, 'enrollment.token.create', {
      entityId: created.body.id,
    });
    expect(JSON.stringify(rows)).not.toContain(created.body.token);
    expect((await api(`/api/enrollment/tokens/${created.body.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await api(`/api/enrollment/tokens/${created.body.id}`, { method: 'DELETE' })).status).toBe(404);
  });

  it('the group named on a token is stored on the identity as initial_group', async () => {
    const agent = await enroll({
      bootstrapToken: await issueToken('grouped', { group: 'edge-eu' }),
      csr: true,
    });
    const summary = await agentByUid(uuidToString(agent.instanceUid));
    const { rows } = await sql<{
      initial_group: string;
    }>`select initial_group from agent_identities where id = ${summary.id}`.execute(server.database.owner);
    expect(rows[0]?.initial_group).toBe('edge-eu');
  });

  it('pools: the admin secret is shown once; it mints single-use tokens; a wrong secret is 401', async () => {
    const pool = await post('/api/enrollment/pools', {
      name: `pool-${randomBytes(3).toString('hex')}`,
      tokenTtlSeconds: 3600,
      defaultGroup: 'auto',
    });
    expect(pool.status).toBe(201);
    expect(pool.body.adminSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const listed = await api('/api/enrollment/pools');
    expect(JSON.stringify(listed.body)).not.toContain(pool.body.adminSecret);

    const wrong = await post(
      `/api/enrollment/pools/${pool.body.id}/tokens`,
      {},
      { 'x-ampora-pool-secret': 'nope' },
    );
    expect(wrong.status).toBe(401);
    const missing = await post(`/api/enrollment/pools/${pool.body.id}/tokens`, {});
    expect(missing.status).toBe(401);
    const unknownPool = await post(
      `/api/enrollment/pools/0190f0f0-0000-7000-8000-000000000000/tokens`,
      {},
      {
        'x-ampora-pool-secret': pool.body.adminSecret,
      },
    );
    expect(unknownPool.status).toBe(401);

    const minted = await post(
      `/api/enrollment/pools/${pool.body.id}/tokens`,
      { label: 'asg-1' },
      {
        'x-ampora-pool-secret': pool.body.adminSecret,
      },
    );
    expect(minted.status).toBe(201);
    expect(minted.body).toMatchObject({ label: 'asg-1', group: 'auto', poolId: pool.body.id });
    expect(new Date(minted.body.expiresAt).getTime() - new Date(minted.body.createdAt).getTime()).toBe(
      3_600_000,
    );
    const [event] = (await auditRows('enrollment.token.create')).filter(
      (r) => r.entity_id === minted.body.id,
    );
    expect(event).toMatchObject({ actor_kind: 'system', actor_id: `pool:${pool.body.id}` });

    await enroll({ bootstrapToken: minted.body.token, csr: false });
    const again = await wsExchange(
      { headers: { authorization: `Bearer ${minted.body.token}` } },
      { instanceUid: newUid() },
    );
    expect(again.status).toBe(401);

    expect((await api(`/api/enrollment/pools/${pool.body.id}`, { method: 'DELETE' })).status).toBe(204);
    const afterDelete = await post(
      `/api/enrollment/pools/${pool.body.id}/tokens`,
      {},
      {
        'x-ampora-pool-secret': pool.body.adminSecret,
      },
    );
    expect(afterDelete.status).toBe(401);
  });
});

function randomUuid() {
  return uuidToString(newUid());
}
