import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentCredentials, type SimAgentOptions } from '@ampora/agent-sim';
import { uuidToString } from '@ampora/opamp';
import { eventually as eventuallyWithin } from '../support/eventually.js';
import { auditRows } from '../support/audit-rows.js';
import { agentByUid } from '../support/opamp-fixtures.js';
import { startTrustServer, type TrustServer } from '../support/trust-fixture.js';

let t: TrustServer;

// Agent certificates live one day, and are renewed after a hundred-thousandth of it (about a
// second), so a renewal happens within the test.
beforeAll(async () => {
  t = await startTrustServer({
    AMPORA_CA_STATUS_CACHE_SECONDS: '0',
    AMPORA_CA_AGENT_CERT_LIFETIME_DAYS: '1',
    AMPORA_ENROLLMENT_RENEW_AT_FRACTION: '0.00001',
  });
}, 90_000);

afterAll(async () => {
  await t?.stop();
});

const eventually = <T>(fn: () => Promise<T | undefined>) => eventuallyWithin(fn, 15_000);

/** The audited renewals that issued the certificate with this fingerprint. */
const renewalEvents = async (fingerprint: string) =>
  (await auditRows(t.server.database.owner, 'agent.certificate.renew')).filter(
    (r) => r.after.fingerprint === fingerprint,
  );

/** Enrolls, then resolves with the first and the renewed credentials. */
async function enrollAndRenew(options: Partial<SimAgentOptions>) {
  const agent = t.sim({ bootstrapToken: await t.issueToken('renewal'), ...options });
  const seen: AgentCredentials[] = [];
  const twice = new Promise<void>((resolve) =>
    agent.on('credentials', (c) => {
      seen.push(c);
      if (seen.length === 2) resolve();
    }),
  );
  await agent.start();
  await twice;
  return { agent, first: seen[0]!, renewed: seen[1]! };
}

describe('certificate renewal over connection settings', () => {
  it('N-8: past its renewal point, a server-keyed agent is offered a new certificate and key, switches, and the old one is superseded', async () => {
    const { agent, first, renewed } = await enrollAndRenew({ csr: false });
    await agent.stop({ graceful: false });
    expect(renewed.fingerprint).not.toBe(first.fingerprint);
    expect(renewed.keyOrigin).toBe('server');
    expect(renewed.keyPem).not.toBe(first.keyPem);

    // The old certificate stops working once the new one has been used; it is superseded, not revoked.
    expect(await t.handshake(first)).toBe(401);
    const { rows } = await sql<{
      state: string;
    }>`select state from agent_credentials where fingerprint = ${first.fingerprint}`.execute(
      t.server.database.owner,
    );
    expect(rows[0]?.state).toBe('superseded');
    const summary = await agentByUid(t.api, uuidToString(agent.instanceUid), { timeoutMs: 15_000 });
    const certs = await t.api(`/api/pki/certificates?agentId=${summary.id}`);
    const old = certs.body.items.find(
      (c: any) => (c.fingerprint ?? c.fingerprintSha256) === first.fingerprint,
    );
    expect(old?.status).not.toBe('revoked');

    const events = await auditRows(
      t.server.database.owner,
      ['agent.certificate.renew', 'agent.certificate.activate'],
      { entityId: summary.id },
    );
    expect(events.map((e) => e.action)).toEqual(
      expect.arrayContaining(['agent.certificate.renew', 'agent.certificate.activate']),
    );
    expect(events.find((e) => e.action === 'agent.certificate.activate')?.after.superseded).toContain(
      first.fingerprint,
    );

    // The agent reported the outcome (ConnectionSettingsStatus), which the inventory keeps.
    const detail = await eventually(async () => {
      const d = await t.api(`/api/agents/${summary.id}`);
      return d.body.connectionSettingsStatus?.status ? d.body : undefined;
    });
    expect(detail.connectionSettingsStatus.status).toBe('ConnectionSettingsStatuses_APPLIED');
  });

  it('a CSR agent renews itself with a new CSR on its mTLS session; its key never leaves it', async () => {
    // Here the server's renewal point has passed too, so its own offer (the same key, re-certified)
    // may come first; the agent's CSR is then answered on the next session. Either way the agent
    // ends up with a certificate for a key it made.
    const agent = t.sim({
      bootstrapToken: await t.issueToken('renewal'),
      csr: true,
      renewAtFraction: 0.000001,
    });
    const seen: AgentCredentials[] = [];
    const rekeyed = new Promise<AgentCredentials>((resolve) =>
      agent.on('credentials', (c) => {
        seen.push(c);
        if (seen.length > 1 && c.keyPem !== seen[0]!.keyPem) resolve(c);
      }),
    );
    await agent.start();
    const renewed = await rekeyed;
    await agent.stop({ graceful: false });
    const first = seen[0]!;
    expect(renewed.fingerprint).not.toBe(first.fingerprint);
    expect(renewed.keyOrigin).toBe('csr');
    expect(await t.handshake(renewed)).toBe(101);
    expect(await t.handshake(first)).toBe(401);
    expect((await renewalEvents(renewed.fingerprint))[0]?.after).toMatchObject({
      keyOrigin: 'csr',
      sameKey: false,
    });
  });

  it('N-8: a CSR agent that never sends a CSR is offered its own key re-certified, with no private key in the offer', async () => {
    const { agent, first, renewed } = await enrollAndRenew({ csr: true, renewAtFraction: 1000 });
    await agent.stop({ graceful: false });
    expect(renewed.fingerprint).not.toBe(first.fingerprint);
    expect(renewed.keyOrigin).toBe('csr');
    expect(renewed.keyPem).toBe(first.keyPem);
    expect(renewed.notAfter.getTime()).toBeGreaterThanOrEqual(first.notAfter.getTime());
    expect(await t.handshake(renewed)).toBe(101);
    expect(await t.handshake(first)).toBe(401);

    const rows = await renewalEvents(renewed.fingerprint);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.after).toMatchObject({ keyOrigin: 'csr', sameKey: true });
    const metrics = await fetch(`${t.server.httpUrl}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/ampora_\w*certificates_issued_total\{[^}]*flow="renew-same-key"[^}]*\} [1-9]/);
  });
});
