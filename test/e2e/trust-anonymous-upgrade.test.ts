import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimAgent, type SimAgent } from '@ampora/agent-sim';
import { AgentCapability } from '@ampora/opamp';
import { eventually } from '../support/eventually.js';
import { apiOf, jsonPost } from '../support/http.js';
import { newUid, uidString } from '../support/raw-opamp.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';

// Local development without mutual TLS: agents may first run anonymously, then enroll.
let server: ServerProcess;
let trustBundle: string;
const agents: SimAgent[] = [];
const api = apiOf(() => server);

beforeAll(async () => {
  server = await startServerProcess({
    AMPORA_API_INSECURE_NO_AUTH: 'true',
    AMPORA_OPAMP_REQUIRE_MTLS: 'false',
    AMPORA_OPAMP_FLUSH_INTERVAL_MS: '50',
  });
  trustBundle = await (await fetch(`${server.httpUrl}/pki/trust-bundle.pem`)).text();
}, 90_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop({ graceful: false }).catch(() => undefined)));
  await server?.stop();
});

function sim(options: Parameters<typeof createSimAgent>[0]): SimAgent {
  const agent = createSimAgent({
    reconnect: false,
    replyTimeoutMs: 10_000,
    ...options,
    tls: { ca: trustBundle },
  });
  agents.push(agent);
  return agent;
}

describe('an agent that ran anonymously enrolls under the same instance_uid', () => {
  it('keeps its agent id and history; a second enrollment of that uid is refused and audited', async () => {
    const url = `wss://127.0.0.1:${server.opampPort}/v1/opamp`;
    const instanceUid = newUid();
    const anonymous = sim({
      url,
      instanceUid,
      description: { identifying: { 'service.name': 'anon-first' } },
    });
    await anonymous.start();
    const before = await eventually(async () => {
      const list = await api('/api/agents?limit=500');
      return list.body.items.find((a: { instanceUid: string }) => a.instanceUid === uidString(instanceUid));
    });
    await anonymous.stop();

    const token = (await api('/api/enrollment/tokens', jsonPost({ label: 'upgrade' }))).body.token as string;
    const enrolling = sim({
      url,
      instanceUid,
      bootstrapToken: token,
      capabilities: AgentCapability.ReportsStatus | AgentCapability.AcceptsOpAMPConnectionSettings,
      description: { identifying: { 'service.name': 'anon-first' } },
    });
    const switched = new Promise((resolve) => enrolling.once('credentials', resolve));
    await enrolling.start();
    await switched;

    const detail = await eventually(async () => {
      const d = await api(`/api/agents/${before.id}`);
      return d.status === 200 && d.body.connected ? d.body : undefined;
    });
    expect(detail.id).toBe(before.id);
    const certs = await api(`/api/pki/certificates?limit=500`);
    expect(certs.body.items.some((c: { agentId: string }) => c.agentId === before.id)).toBe(true);

    // The uid is bound now: enrolling it again with a fresh token is refused.
    const again = (await api('/api/enrollment/tokens', jsonPost({ label: 'again' }))).body.token as string;
    const second = sim({
      url,
      instanceUid,
      bootstrapToken: again,
      capabilities: AgentCapability.ReportsStatus | AgentCapability.AcceptsOpAMPConnectionSettings,
    });
    const refused = new Promise<{ errorMessage: string }>((resolve) => second.once('serverError', resolve));
    await second.start().catch(() => undefined);
    expect((await refused).errorMessage).toMatch(/already enrolled/);
    const audit = await eventually(async () => {
      const rows = await server.database.owner
        .selectFrom('audit_events')
        .select(['outcome', 'after'])
        .where('action', '=', 'agent.enroll')
        .where('outcome', '!=', 'success')
        .execute();
      return rows.length ? rows : undefined;
    });
    expect(JSON.stringify(audit)).toMatch(/uid_already_enrolled/);
  });
});
