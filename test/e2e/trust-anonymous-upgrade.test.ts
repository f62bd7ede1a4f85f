import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentCapability, uuidToString } from '@ampora/opamp';
import { auditRows } from '../support/audit-rows.js';
import { eventually } from '../support/eventually.js';
import { agentByUid } from '../support/opamp-fixtures.js';
import { newUid } from '../support/raw-opamp.js';
import { startTrustServer, type TrustServer } from '../support/trust-fixture.js';

// Local development without mutual TLS: agents may first run anonymously, then enroll.
let t: TrustServer;

beforeAll(async () => {
  t = await startTrustServer({ AMPORA_OPAMP_REQUIRE_MTLS: 'false' });
}, 90_000);

afterAll(async () => {
  await t?.stop();
});

describe('an agent that ran anonymously enrolls under the same instance_uid', () => {
  it('keeps its agent id and history; a second enrollment of that uid is refused and audited', async () => {
    const { api, server } = t;
    const instanceUid = newUid();
    const anonymous = t.sim({
      instanceUid,
      description: { identifying: { 'service.name': 'anon-first' } },
    });
    await anonymous.start();
    const before = await agentByUid(api, uuidToString(instanceUid));
    await anonymous.stop();

    const token = await t.issueToken('upgrade');
    const enrolling = t.sim({
      instanceUid,
      bootstrapToken: token,
      capabilities: AgentCapability.ReportsStatus | AgentCapability.AcceptsOpAMPConnectionSettings,
      description: { identifying: { 'service.name': 'anon-first' } },
    });
    await t.enroll(enrolling);

    const detail = await eventually(async () => {
      const d = await api(`/api/agents/${before.id}`);
      return d.status === 200 && d.body.connected ? d.body : undefined;
    });
    expect(detail.id).toBe(before.id);
    const certs = await api(`/api/pki/certificates?limit=500`);
    expect(certs.body.items.some((c: { agentId: string }) => c.agentId === before.id)).toBe(true);

    // The uid is bound now: enrolling it again with a fresh token is refused.
    const again = await t.issueToken('again');
    const second = t.sim({
      instanceUid,
      bootstrapToken: again,
      capabilities: AgentCapability.ReportsStatus | AgentCapability.AcceptsOpAMPConnectionSettings,
    });
    const refused = new Promise<{ errorMessage: string }>((resolve) => second.once('serverError', resolve));
    await second.start().catch(() => undefined);
    expect((await refused).errorMessage).toMatch(/already enrolled/);
    const audit = await eventually(async () => {
      const rows = (await auditRows(server.database.owner, 'agent.enroll'))
        .filter((r) => r.outcome !== 'success')
        .map(({ outcome, after }) => ({ outcome, after }));
      return rows.length ? rows : undefined;
    });
    expect(JSON.stringify(audit)).toMatch(/uid_already_enrolled/);
  });
});
