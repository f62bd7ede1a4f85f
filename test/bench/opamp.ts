/**
 * OpAMP gateway benchmark: N WebSocket agents (default 10,000) spread over several load-generator
 * processes and 127.0.0.x source addresses. Reports connect time, steady status throughput with
 * reply latency, and server RSS per agent.
 */
import type { ChildProcess } from 'node:child_process';
import {
  forkWorkers,
  percentile,
  report,
  startBenchServer,
  workerAddresses,
  workerWaiter,
} from './harness.js';

type WorkerReply =
  | { type: 'connected'; ok: number; failed: number; firstError?: string; ms: number }
  | {
      type: 'steady-done';
      sent: number;
      answered: number;
      errors: number;
      elapsedMs: number;
      latencies: number[];
    };

const waitFor = workerWaiter<WorkerReply>();

export async function run(args: Record<string, string>) {
  const agents = Number(args.agents ?? 10_000);
  const procs = Number(args.procs ?? 2);
  const rate = Number(args.rate ?? 6000);
  const durationMs = Number(args.seconds ?? 20) * 1000;
  console.log(
    `OpAMP benchmark: ${agents} WebSocket agents over ${procs} processes, steady ${rate} status msg/s for ${durationMs / 1000}s`,
  );

  const server = await startBenchServer({
    AMPORA_OPAMP_MAX_SESSIONS: String(agents * 2),
    AMPORA_OPAMP_MAX_CONCURRENT_ADMISSIONS: '4096',
    // This measures the protocol path; TLS handshakes and enrollment are measured by `bench -- trust`.
    AMPORA_OPAMP_REQUIRE_MTLS: 'false',
    AMPORA_OPAMP_BOOTSTRAP_PLAINTEXT_ALLOWED: 'true',
    ...(args.env
      ? Object.fromEntries(args.env.split(',').map((kv) => kv.split('=') as [string, string]))
      : {}),
  });
  const workers: ChildProcess[] = [];
  try {
    await new Promise((r) => setTimeout(r, 2000));
    const rssBefore = server.rssBytes();
    const url = `ws://127.0.0.1:${server.opampPort}/v1/opamp`;
    const t0 = Date.now();
    workers.push(...forkWorkers('opamp-worker.ts', procs));
    const perProc = Math.ceil(agents / procs);
    const connected = await Promise.all(
      workers.map((w, i) => {
        const done = waitFor(w, 'connected', 300_000);
        w.send({
          type: 'start',
          url,
          count: Math.min(perProc, agents - i * perProc),
          staggerMs: Number(args.stagger ?? 0),
          workerIndex: i,
          localAddresses: workerAddresses(i),
        });
        return done;
      }),
    );
    const connectMs = Date.now() - t0;
    const ok = connected.reduce((s, c) => s + c.ok, 0);
    const failed = connected.reduce((s, c) => s + c.failed, 0);
    if (failed)
      console.log(
        `  ${failed} agents failed to connect; first error: ${connected.find((c) => c.firstError)?.firstError}`,
      );
    await new Promise((r) => setTimeout(r, 3000));
    const rssConnected = server.rssBytes();

    const cpuBefore = server.cpuSeconds();
    const steady = await Promise.all(
      workers.map((w) => {
        const done = waitFor(w, 'steady-done', durationMs + 60_000);
        w.send({ type: 'steady', ratePerSecond: rate / procs, durationMs });
        return done;
      }),
    );
    const serverCpu = server.cpuSeconds() - cpuBefore;
    const answered = steady.reduce((s, r) => s + r.answered, 0);
    const errors = steady.reduce((s, r) => s + r.errors, 0);
    const elapsed = Math.max(...steady.map((r) => r.elapsedMs)) / 1000;
    const lat = steady.flatMap((r) => r.latencies).sort((a, b) => a - b);
    const agentsRow = await fetch(`${server.httpUrl}/metrics`).then((r) => r.text());
    const active = /ampora_opamp_active_sessions\{transport="websocket"\} (\d+)/.exec(agentsRow)?.[1];

    console.log('');
    report('agents connected', ok, 'agents', { value: agents, higherIsBetter: true });
    report('server-side active sessions', Number(active ?? 0), 'sessions');
    report('connect time (all agents)', connectMs / 1000, 's');
    report('connect rate', ok / (connectMs / 1000), 'agents/s');
    report('server RSS per agent', (rssConnected - rssBefore) / Math.max(ok, 1) / 1024, 'KiB', {
      value: 100,
      higherIsBetter: false,
    });
    report('server RSS total', rssConnected / 1024 / 1024, 'MiB');
    report('steady status throughput', answered / elapsed, 'msg/s', { value: 5000, higherIsBetter: true });
    report('steady errors', errors, 'msgs');
    report('server CPU during steady phase', serverCpu / elapsed, 'cores');
    report('status msgs per server CPU-second', answered / Math.max(serverCpu, 1e-9), 'msg/s', {
      value: 5000,
      higherIsBetter: true,
    });
    report('reply latency p50', percentile(lat, 50), 'ms');
    report('reply latency p99', percentile(lat, 99), 'ms');
  } finally {
    for (const w of workers) w.send({ type: 'stop' });
    await new Promise((r) => setTimeout(r, 1500));
    for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
    await server.stop();
  }
}
