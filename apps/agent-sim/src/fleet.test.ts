import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { uuidToString } from '@ampora/opamp';
import { loopbackAddresses, startFleet, type Fleet } from './fleet';
import { startTestOpampServer, type TestOpampServer } from './test-opamp-server';

let server: TestOpampServer;
let fleet: Fleet | undefined;

beforeEach(async () => {
  server = await startTestOpampServer();
});
afterEach(async () => {
  await fleet?.stop({ graceful: false });
  fleet = undefined;
  await server.close();
});

describe('startFleet', () => {
  it.each(['websocket', 'http'] as const)(
    'runs many %s agents with distinct uids and rotated source addresses',
    async (transport) => {
      fleet = await startFleet({
        url: transport === 'http' ? server.httpUrl : server.wsUrl,
        count: 6,
        staggerMs: 2,
        localAddresses: loopbackAddresses(3),
        reconnect: false,
      });
      expect(fleet.failures).toEqual([]);
      const uids = new Set(server.received.map((r) => uuidToString(r.msg.instanceUid)));
      expect(uids.size).toBe(6);
      const sources = new Set(server.received.map((r) => r.remoteAddress?.replace('::ffff:', '')));
      expect([...sources].sort()).toEqual(['127.0.0.1', '127.0.0.2', '127.0.0.3']);
      const hosts = server.received.map((r) =>
        r.msg.agentDescription?.nonIdentifyingAttributes.find((kv) => kv.key === 'host.name'),
      );
      expect(
        new Set(hosts.map((h) => (h?.value?.value.case === 'stringValue' ? h.value.value.value : ''))),
      ).toHaveProperty('size', 6);
      // Every first report was answered, and each answer was timed.
      expect(fleet.latency.summary().count).toBeGreaterThanOrEqual(6);
    },
  );

  it('reports agents that could not start instead of throwing', async () => {
    server.refuseWith = 503;
    fleet = await startFleet({ url: server.wsUrl, count: 2, reconnect: false });
    expect(fleet.failures.map((f) => f.index).sort()).toEqual([0, 1]);
    expect(fleet.failures[0]?.error.message).toContain('503');
  });

  it('stops every agent with agent_disconnect', async () => {
    fleet = await startFleet({ url: server.wsUrl, count: 3, reconnect: false });
    await fleet.stop();
    const disconnects = server.received.filter((r) => r.inbound.disconnect);
    expect(disconnects).toHaveLength(3);
    fleet = undefined;
  });

  it('rejects an impossible loopback address count', () => {
    expect(() => loopbackAddresses(0)).toThrow(RangeError);
    expect(() => loopbackAddresses(255)).toThrow(RangeError);
    expect(loopbackAddresses(2)).toEqual(['127.0.0.1', '127.0.0.2']);
  });
});
