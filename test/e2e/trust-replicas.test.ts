import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidToString } from '@ampora/opamp';
import { agentByUid } from '../support/opamp-fixtures.js';
import { startTrustServer, type TrustServer } from '../support/trust-fixture.js';

/**
 * Two replicas on one database, as a highly available install runs: what one replica revokes, the
 * other acts on within seconds (it reads the revocations other replicas made), without waiting for
 * the agent's next handshake.
 */
let a: TrustServer;
let b: TrustServer;
const ENV = { AMPORA_CA_REVOCATION_POLL_SECONDS: '1', AMPORA_CA_STATUS_CACHE_SECONDS: '300' };

beforeAll(async () => {
  a = await startTrustServer(ENV);
  b = await startTrustServer(ENV, { database: a.server.database, masterKey: a.server.masterKey });
}, 120_000);
afterAll(async () => {
  await b?.stop();
  await a?.stop();
});

describe('revocation across replicas', () => {
  it('a certificate revoked on one replica closes the session on the other and is refused there', async () => {
    expect(b.trustBundle).toBe(a.trustBundle);
    const agent = b.sim({ bootstrapToken: await b.issueToken('replica'), csr: true });
    await b.enroll(agent);
    // A successful handshake on B fills B's status cache (kept 300 s here), which the revocation
    // on A must not outlive.
    expect(await b.handshake(agent.credentials!)).toBe(101);

    const summary = await agentByUid(a.api, uuidToString(agent.instanceUid));
    const certs = await a.api(`/api/pki/certificates?agentId=${summary.id}`);
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      agent.once('disconnected', resolve),
    );
    const started = Date.now();
    const revoked = await a.api(`/api/pki/certificates/${certs.body.items[0].id}/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'keyCompromise' }),
    });
    expect(revoked.status).toBe(200);
    const { code } = await closed;
    expect(code).toBe(1008);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await b.handshake(agent.credentials!)).toBe(401);
    expect(b.server.logs.some((l) => l.includes('closed sessions of a revoked certificate'))).toBe(true);
  });
});
