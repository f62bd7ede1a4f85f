/**
 * Trust benchmark: bootstrap enrollment throughput (token check, CSR verification, signing, one
 * transaction that redeems the token and stores identity and certificate, over a fresh TLS
 * connection each) and full mutual-TLS handshakes per second, with several client processes on
 * 127.0.x.y source addresses. `npm run bench -- trust [--enrollments 600] [--procs 3] [--seconds 10]`.
 */
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import {
  cpuSeconds,
  forkWorkers,
  percentile,
  report,
  startBenchServer,
  workerAddresses,
  workerWaiter,
} from './harness.js';

type Reply =
  | { type: 'ready' }
  | { type: 'error'; message: string }
  | {
      type: 'enrolled';
      ok: number;
      failed: number;
      firstError?: string;
      ms: number;
      latencies: number[];
      sample?: { cert: string; key: string; uid: number[] };
      /** CPU the load generator itself used. */
      cpuSeconds: number;
    }
  | {
      type: 'handshakes-done';
      count: number;
      errors: number;
      firstError?: string;
      elapsedMs: number;
      /** CPU the load generator itself used. */
      cpuSeconds: number;
    };

const next = workerWaiter<Reply>();

/** The bench database's postmaster (matched by its port), or undefined for an external database. */
function postmasterOf(serverPid: number): number | undefined {
  const env = readFileSync(`/proc/${serverPid}/environ`, 'utf8').split('\0');
  const url = env.find((e) => e.startsWith('DATABASE_URL='))?.slice('DATABASE_URL='.length);
  const port = url ? new URL(url).port : '';
  if (!port) return undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (!args[0]?.endsWith('postgres')) continue;
      const at = args.findIndex((a) => a === '-p' || a === '--port');
      if (at >= 0 && args[at + 1] === port) return Number(entry);
    } catch {
      // the process ended while we looked
    }
  }
  return undefined;
}

/** CPU used by the postmaster and all its backends, live or ended. */
function postgresCpuSeconds(postmaster: number | undefined): number {
  if (postmaster === undefined) return NaN;
  let total = cpuSeconds(postmaster, true);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === postmaster) total += cpuSeconds(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return total;
}

/** Busy CPU-seconds of the whole machine (every process, not only this benchmark's). */
function machineBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number);
  const idle = f[3]! + f[4]!;
  return (f.reduce((a, b) => a + b, 0) - idle) / 100;
}

/**
 * CPU spent during one phase by the server, its database, and the machine as a whole, so the
 * figures can be read per server CPU-second even when load generators share the machine.
 */
function cpuMeter(serverPid: number, postmaster: number | undefined) {
  const take = () => ({
    server: cpuSeconds(serverPid),
    postgres: postgresCpuSeconds(postmaster),
    machine: machineBusySeconds(),
  });
  const start = take();
  return (label: string, count: number, unit: string, wallSeconds: number) => {
    const end = take();
    const server = end.server - start.server;
    const pg = end.postgres - start.postgres;
    const machine = end.machine - start.machine;
    console.log(
      `  CPU over ${wallSeconds.toFixed(1)} s: server ${server.toFixed(2)} s (${((100 * server) / wallSeconds).toFixed(0)}% of a core), ` +
        `postgres ${pg.toFixed(2)} s, whole machine ${machine.toFixed(2)} s of ${(2 * wallSeconds).toFixed(0)}; ` +
        `load ${loadavg()[0]!.toFixed(2)}`,
    );
    if (server > 0) report(`  ${label} per server CPU-second`, count / server, unit);
  };
}

export async function run(args: Record<string, string>) {
  const enrollments = Number(args.enrollments ?? 600);
  const procs = Number(args.procs ?? 3);
  const seconds = Number(args.seconds ?? 10);
  const concurrency = Number(args.concurrency ?? 16);
  console.log(
    `Trust benchmark: ${enrollments} enrollments and ${seconds}s of mTLS handshakes, ${procs} client processes` +
      ` (load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')})`,
  );
  const server = await startBenchServer({
    AMPORA_API_INSECURE_NO_AUTH: 'true',
    AMPORA_OPAMP_MAX_CONCURRENT_ADMISSIONS: '4096',
    AMPORA_HTTP_RATE_LIMIT_IP_PER_MINUTE: '0',
    AMPORA_HTTP_RATE_LIMIT_PRINCIPAL_PER_MINUTE: '0',
  });
  const workers: ChildProcess[] = [];
  const postmaster = postmasterOf(server.pid);
  try {
    const ca = await (await fetch(`${server.httpUrl}/pki/trust-bundle.pem`)).text();
    const url = `https://127.0.0.1:${server.opampPort}/v1/opamp`;
    const tokens: string[] = [];
    const issueStarted = Date.now();
    for (let i = 0; i < enrollments; i++) {
      const res = await fetch(`${server.httpUrl}/api/enrollment/tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ label: `bench-${i}` }),
      });
      if (res.status !== 201) throw new Error(`token issue failed: HTTP ${res.status} ${await res.text()}`);
      tokens.push(((await res.json()) as { token: string }).token);
    }
    report(
      'bootstrap tokens issued (REST, serial)',
      enrollments / ((Date.now() - issueStarted) / 1000),
      'tokens/s',
    );

    workers.push(...forkWorkers('trust-worker.ts', procs));

    // Enrollment: each worker redeems its share of the tokens with CSRs made beforehand.
    const share = Math.ceil(enrollments / procs);
    const ready = workers.map((w) => next(w, 'ready', 120_000));
    workers.forEach((w, i) =>
      w.send({
        type: 'enroll',
        url,
        ca,
        tokens: tokens.slice(i * share, (i + 1) * share),
        concurrency: Math.max(1, Math.ceil(concurrency / procs)),
        localAddresses: workerAddresses(i),
      }),
    );
    await Promise.all(ready);
    const done = workers.map((w) => next(w, 'enrolled', 300_000));
    const enrollCpu = cpuMeter(server.pid, postmaster);
    const t0 = Date.now();
    workers.forEach((w) => w.send({ type: 'go' }));
    const results = await Promise.all(done);
    const elapsed = (Date.now() - t0) / 1000;
    const ok = results.reduce((s, r) => s + r.ok, 0);
    const failed = results.reduce((s, r) => s + r.failed, 0);
    const lat = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
    report('enrollments (token + CSR + issue + store)', ok / elapsed, 'enrollments/s', {
      value: 100,
      higherIsBetter: true,
    });
    enrollCpu('enrollments', ok, 'enrollments/s', elapsed);
    const enrollClientCpu = results.reduce((s, r) => s + r.cpuSeconds, 0);
    console.log(
      `  load generators: ${enrollClientCpu.toFixed(2)} CPU-s, ${((1000 * enrollClientCpu) / Math.max(ok, 1)).toFixed(2)} ms per enrollment`,
    );
    report('  enrollment latency p50', percentile(lat, 50), 'ms');
    report('  enrollment latency p99', percentile(lat, 99), 'ms');
    if (failed)
      console.log(`  ${failed} enrollments failed; first: ${results.find((r) => r.firstError)?.firstError}`);
    const sample = results.find((r) => r.sample)?.sample;
    if (!sample) throw new Error('no enrollment succeeded; cannot measure mTLS handshakes');

    // Handshakes: full ones (no session resumption), with the certificate an enrollment issued.
    for (const poll of [false, true]) {
      const finished = workers.map((w) => next(w, 'handshakes-done', (seconds + 60) * 1000));
      const meter = cpuMeter(server.pid, postmaster);
      workers.forEach((w, i) =>
        w.send({
          type: 'handshakes',
          url,
          ca,
          cert: sample.cert,
          key: sample.key,
          uid: sample.uid,
          durationMs: seconds * 1000,
          concurrency: Math.max(1, Math.ceil((concurrency * 2) / procs)),
          localAddresses: workerAddresses(i),
          poll,
        }),
      );
      const hs = await Promise.all(finished);
      const count = hs.reduce((s, r) => s + r.count, 0);
      const errors = hs.reduce((s, r) => s + r.errors, 0);
      const secs = Math.max(...hs.map((r) => r.elapsedMs)) / 1000;
      const clientCpu = hs.reduce((s, r) => s + r.cpuSeconds, 0);
      if (poll) {
        report('mTLS connections + admission + 1 poll', count / secs, 'conn/s');
        meter('connections', count, 'conn/s', secs);
      } else {
        report('full mTLS handshakes (ECDSA P-256)', count / secs, 'handshakes/s', {
          value: 500,
          higherIsBetter: true,
        });
        meter('full handshakes', count, 'handshakes/s', secs);
      }
      console.log(
        `  load generators: ${clientCpu.toFixed(2)} CPU-s, ${((1000 * clientCpu) / Math.max(count, 1)).toFixed(2)} ms per connection`,
      );
      if (errors) console.log(`  ${errors} errors; first: ${hs.find((r) => r.firstError)?.firstError}`);
    }
  } finally {
    for (const w of workers) w.kill();
    await server.stop();
  }
}
