import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '@ampora/db';
import { freePort } from '../support/ports.js';
import { ROOT, spawnServer, waitReady } from '../support/server-spawn.js';

export { ROOT };

export interface BenchServer {
  pid: number;
  httpUrl: string;
  opampPort: number;
  child: ChildProcess;
  logs: string[];
  rssBytes(): number;
  /** User + system CPU the server process has used so far. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/**
 * The PostgreSQL a benchmark runs against: AMPORA_BENCH_DATABASE_URL when set (left running), otherwise
 * a fresh embedded one under `dir` (stopped by `stop`).
 */
export async function benchDatabase(dir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const url = process.env.AMPORA_BENCH_DATABASE_URL;
  if (url) return { url, stop: async () => {} };
  const pg = await startEmbeddedPostgres({
    dataDir: path.join(dir, 'pg'),
    port: await freePort(),
    password: 'bench',
  });
  return { url: pg.url, stop: pg.stop };
}

/**
 * A server process on its own database: AMPORA_BENCH_DATABASE_URL when set, otherwise a fresh
 * embedded PostgreSQL in a temporary directory, removed afterwards.
 */
export async function startBenchServer(env: Record<string, string> = {}): Promise<BenchServer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ampora-bench-'));
  const { url: databaseUrl, stop: stopPg } = await benchDatabase(dir);
  const httpPort = await freePort();
  const opampPort = await freePort();
  // AMPORA_BENCH_NODE_ARGS adds flags to the server process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
  const extra = (process.env.AMPORA_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const server = spawnServer(
    {
      DATABASE_URL: databaseUrl,
      AMPORA_DATA_DIR: path.join(dir, 'data'),
      AMPORA_HTTP_PORT: String(httpPort),
      AMPORA_OPAMP_PORT: String(opampPort),
      AMPORA_KEY_PROTECTION_MASTER_KEY: randomBytes(32).toString('base64'),
      AMPORA_LOG_LEVEL: 'warn',
      ...env,
    },
    { nodeArgs: ['--max-old-space-size=8192', ...extra], maxLogLines: 500 },
  );
  const { child, logs } = server;
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  await waitReady(httpUrl, server);
  return {
    pid: child.pid!,
    httpUrl,
    opampPort,
    child,
    logs,
    cpuSeconds: () => cpuSeconds(child.pid!),
    rssBytes: () =>
      Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) * 1024,
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([server.exited, new Promise((r) => setTimeout(r, 20_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      await stopPg();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** utime + stime of a process (and, with `children`, of its reaped children), in seconds. */
export function cpuSeconds(pid: number, children = false): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields 14 to 17 of /proc/<pid>/stat, in clock ticks (100 per second on Linux); the command name
  // before them is in parentheses and may itself contain spaces.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0);
  return ticks / 100;
}

/**
 * Load-generator processes running `script` (under test/bench) with tsx. AMPORA_BENCH_WORKER_ARGS
 * adds Node flags to them, e.g. `--cpu-prof`.
 */
export function forkWorkers(script: string, count: number): ChildProcess[] {
  const extra = (process.env.AMPORA_BENCH_WORKER_ARGS ?? '').split(' ').filter(Boolean);
  return Array.from({ length: count }, () =>
    fork(path.join(ROOT, 'test/bench', script), [], {
      execArgv: [...extra, '--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
}

/**
 * The source addresses of one worker: its own 127.0.x.y block, so the workers together use more
 * ephemeral ports than one loopback address has.
 */
export const workerAddresses = (workerIndex: number, count = 4): string[] =>
  Array.from({ length: count }, (_, k) => `127.0.${workerIndex + 1}.${k + 10}`);

/**
 * A waiter for a worker's messages of type `R`: resolves with the next one of the given type, and
 * rejects on an `{ type: 'error', message }` from the worker or after `timeoutMs`.
 */
export function workerWaiter<R extends { type: string }>() {
  return <T extends R['type']>(w: ChildProcess, type: T, timeoutMs: number) =>
    new Promise<Extract<R, { type: T }>>((resolve, reject) => {
      const timer = setTimeout(() => {
        w.off('message', onMsg);
        reject(new Error(`worker timed out waiting for ${type}`));
      }, timeoutMs);
      const onMsg = (m: R | { type: 'error'; message: string }) => {
        if (m.type !== type && m.type !== 'error') return;
        clearTimeout(timer);
        w.off('message', onMsg);
        if (m.type === 'error' && 'message' in m) reject(new Error(m.message));
        else resolve(m as Extract<R, { type: T }>);
      };
      w.on('message', onMsg);
    });
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** One result line: the figure, the goal, and their ratio (≥ 1 meets the goal). */
export function report(
  label: string,
  value: number,
  unit: string,
  goal?: { value: number; higherIsBetter: boolean },
) {
  const fig = `${value.toFixed(value < 10 ? 2 : 0)} ${unit}`;
  if (!goal) return console.log(`${label.padEnd(40)} ${fig}`);
  const ratio = goal.higherIsBetter ? value / goal.value : goal.value / value;
  console.log(
    `${label.padEnd(40)} ${fig.padEnd(18)} goal ${goal.higherIsBetter ? '≥' : '≤'} ${goal.value} ${unit}  ratio ${ratio.toFixed(2)} ${ratio >= 1 ? 'MET' : 'NOT MET'}`,
  );
}
