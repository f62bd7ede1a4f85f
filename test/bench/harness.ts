import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmbeddedPostgres } from '@ampora/db';
import { freePort } from '../support/ports.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

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
  const logs: string[] = [];
  // AMPORA_BENCH_NODE_ARGS adds flags to the server process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
  const extra = (process.env.AMPORA_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(
    process.execPath,
    ['--max-old-space-size=8192', ...extra, '--import', 'tsx', 'apps/server/src/main.ts'],
    {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        DATABASE_URL: databaseUrl,
        AMPORA_DATA_DIR: path.join(dir, 'data'),
        AMPORA_HTTP_PORT: String(httpPort),
        AMPORA_OPAMP_PORT: String(opampPort),
        AMPORA_KEY_PROTECTION_MASTER_KEY: randomBytes(32).toString('base64'),
        AMPORA_LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const collect = (c: Buffer) => {
    logs.push(...c.toString().split('\n').filter(Boolean));
    if (logs.length > 500) logs.splice(0, logs.length - 500);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const deadline = Date.now() + 60_000;
  while (
    !(await fetch(`${httpUrl}/readyz`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`bench server did not start:\n${logs.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    pid: child.pid!,
    httpUrl,
    opampPort,
    child,
    logs,
    cpuSeconds: () => {
      // Fields 14 and 15 of /proc/<pid>/stat, in clock ticks (100 per second on Linux).
      const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100;
    },
    rssBytes: () =>
      Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) * 1024,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      await stopPg();
      await rm(dir, { recursive: true, force: true });
    },
  };
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
