import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Kept free of vitest imports: the benchmarks start servers with this outside the test runner.

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface SpawnedServer {
  child: ChildProcess;
  /** Every line the server logged (the newest `maxLogLines` when capped). */
  logs: string[];
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
}

export interface SpawnOptions {
  /** Node flags placed before the entry point. */
  nodeArgs?: string[];
  /** Keep only the newest lines: a long benchmark run would otherwise hold every line in memory. */
  maxLogLines?: number;
}

/**
 * Starts the real server the way `npm start` does (`tsx apps/server/src/main.ts`). Nothing is inherited
 * beyond PATH and HOME, so the developer's own AMPORA_* settings cannot leak into a run.
 */
export function spawnServer(env: Record<string, string>, options: SpawnOptions = {}): SpawnedServer {
  const logs: string[] = [];
  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), '--import', 'tsx', 'apps/server/src/main.ts'],
    {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const cap = options.maxLogLines;
  const collect = (chunk: Buffer) => {
    logs.push(...chunk.toString().split('\n').filter(Boolean));
    if (cap !== undefined && logs.length > cap) logs.splice(0, logs.length - cap);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, logs, exited };
}

/**
 * Polls `<httpUrl>/readyz` until it answers OK. Throws with the server's logs if it exits first, or
 * kills it and throws if it is not ready within `timeoutMs`.
 */
export async function waitReady(httpUrl: string, server: SpawnedServer, timeoutMs = 60_000): Promise<void> {
  let exitCode: number | null | undefined;
  void server.exited.then((code) => (exitCode = code));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exitCode !== undefined) throw new Error(`server exited with ${exitCode}:\n${server.logs.join('\n')}`);
    const ok = await fetch(`${httpUrl}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) {
      server.child.kill('SIGKILL');
      throw new Error(`server did not become ready:\n${server.logs.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
}
