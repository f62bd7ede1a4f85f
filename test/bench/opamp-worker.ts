/**
 * One load-generator process for the OpAMP benchmark: a fleet of simulated WebSocket agents,
 * driven by its parent over IPC.
 */
import { performance } from 'node:perf_hooks';
import { startFleet, type Fleet } from '@ampora/agent-sim';

interface StartMsg {
  type: 'start';
  url: string;
  count: number;
  localAddresses: string[];
  staggerMs: number;
  workerIndex: number;
}
interface SteadyMsg {
  type: 'steady';
  ratePerSecond: number;
  durationMs: number;
}

let fleet: Fleet | undefined;

async function start(m: StartMsg) {
  const t0 = performance.now();
  fleet = await startFleet({
    url: m.url,
    count: m.count,
    staggerMs: m.staggerMs,
    localAddresses: m.localAddresses,
    description: { identifying: { 'service.name': 'bench-agent' } },
    perAgent: (i) => ({
      description: {
        identifying: { 'service.name': 'bench-agent' },
        nonIdentifying: { 'host.name': `w${m.workerIndex}-a${i}` },
      },
    }),
    reconnect: false,
    // A whole fleet connecting at once queues behind the server's accept rate; measure that, don't time it out.
    connectTimeoutMs: 60_000,
    replyTimeoutMs: 60_000,
  });
  process.send!({
    type: 'connected',
    ok: m.count - fleet.failures.length,
    failed: fleet.failures.length,
    firstError: fleet.failures[0]?.error.message,
    ms: performance.now() - t0,
  });
}

async function steady(m: SteadyMsg) {
  const agents = fleet!.agents;
  const latencies: number[] = [];
  let sent = 0;
  let answered = 0;
  let errors = 0;
  let next = 0;
  const tickMs = 10;
  let budget = 0;
  let lastTick = performance.now();
  const inflight = new Set<Promise<void>>();
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (performance.now() - started >= m.durationMs) {
        clearInterval(timer);
        resolve();
        return;
      }
      // Credit by elapsed time, not per tick: timers drift late under load and would under-send.
      const now = performance.now();
      budget += (m.ratePerSecond * (now - lastTick)) / 1000;
      lastTick = now;
      while (budget >= 1) {
        budget -= 1;
        const agent = agents[next++ % agents.length]!;
        agent.setHealth({ healthy: sent % 7 !== 0, status: `tick-${sent}` });
        sent++;
        const t = performance.now();
        const p = agent
          .report()
          .then(() => {
            answered++;
            latencies.push(performance.now() - t);
          })
          .catch(() => void errors++)
          .finally(() => inflight.delete(p));
        inflight.add(p);
      }
    }, tickMs);
  });
  await Promise.race([Promise.all(inflight), new Promise((r) => setTimeout(r, 10_000))]);
  const elapsed = performance.now() - started;
  process.send!({ type: 'steady-done', sent, answered, errors, elapsedMs: elapsed, latencies });
}

process.on('message', (msg: StartMsg | SteadyMsg | { type: 'stop' }) => {
  if (msg.type === 'start') void start(msg);
  else if (msg.type === 'steady') void steady(msg);
  else if (msg.type === 'stop')
    void Promise.race([fleet?.stop({ graceful: false }), new Promise((r) => setTimeout(r, 1000))]).finally(
      () => process.exit(0),
    );
});
