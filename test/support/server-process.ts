import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from './database.js';
import { freePort } from './ports.js';
import { spawnServer, waitReady } from './server-spawn.js';

export { ROOT } from './server-spawn.js';

export interface ServerProcess {
  httpUrl: string;
  opampHttpUrl: string;
  opampWsUrl: string;
  httpPort: number;
  opampPort: number;
  database: TestDatabase;
  masterKey: string;
  /** Every line the server logged, for assertions on log output. */
  logs: string[];
  child: ChildProcess;
  /** SIGTERM, then wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * The environment a server or CLI child process needs to reach a test database: nothing is inherited
 * beyond PATH and HOME, so the developer's own AMPORA_* settings cannot leak into a test.
 */
export function databaseEnv(database: TestDatabase, dataDir: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    DATABASE_URL: database.ownerUrl,
    AMPORA_DATABASE_APP_URL: database.appUrl,
    AMPORA_DATA_DIR: dataDir,
  };
}

/** A second replica: another server process on the same database, with the same master key. */
export interface ReplicaOf {
  database: TestDatabase;
  masterKey: string;
}

/**
 * Starts the real server the way `npm start` does (`tsx apps/server/src/main.ts`) against a fresh
 * test database (or, with `replicaOf`, another replica's), and waits for /readyz.
 */
export async function startServerProcess(
  env: Record<string, string> = {},
  replicaOf?: ReplicaOf,
): Promise<ServerProcess> {
  const database = replicaOf?.database ?? (await createTestDatabase());
  const masterKey = replicaOf?.masterKey ?? randomBytes(32).toString('base64');
  const dataDir = await mkdtemp(path.join(tmpdir(), 'ampora-e2e-'));
  const httpPort = await freePort();
  const opampPort = await freePort();
  const server = spawnServer({
    ...databaseEnv(database, dataDir),
    AMPORA_HTTP_PORT: String(httpPort),
    AMPORA_OPAMP_PORT: String(opampPort),
    AMPORA_KEY_PROTECTION_MASTER_KEY: masterKey,
    AMPORA_LOG_LEVEL: 'info',
    ...env,
  });
  const { child, logs, exited } = server;
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  try {
    await waitReady(httpUrl, server);
  } catch (err) {
    await cleanup();
    throw err;
  }

  async function cleanup() {
    // A replica leaves the shared database to the server that created it.
    if (!replicaOf) await database.close().catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
  }

  return {
    httpUrl,
    opampHttpUrl: `http://127.0.0.1:${opampPort}/v1/opamp`,
    opampWsUrl: `ws://127.0.0.1:${opampPort}/v1/opamp`,
    httpPort,
    opampPort,
    database,
    masterKey,
    logs,
    child,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const code = await exited;
      await cleanup();
      return code;
    },
  };
}
