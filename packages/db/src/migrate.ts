/* eslint-disable @typescript-eslint/no-explicit-any -- migrations run before the schema types describe the database */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

/** The role the server runs as: not a superuser, not the owner of any table, NOBYPASSRLS. */
export const APP_ROLE = 'ampora_app';

/** `migrations/` at the repository root. */
export const defaultMigrationsDir = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../migrations',
);

/** The numbered SQL files in `dir`, in the order they apply. */
async function migrationFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();
}

const migrationName = (file: string) => file.replace(/\.sql$/, '');

/** Serves the numbered SQL files in `migrations/` to Kysely's migrator. */
export class SqlFileMigrationProvider implements MigrationProvider {
  constructor(private readonly dir: string) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    const out: Record<string, Migration> = {};
    for (const file of await migrationFiles(this.dir)) {
      const text = await readFile(path.join(this.dir, file), 'utf8');
      out[migrationName(file)] = {
        up: (db) =>
          sql
            .raw(text)
            .execute(db)
            .then(() => undefined),
      };
    }
    return out;
  }
}

export interface MigrateOptions {
  migrationsDir?: string;
  /**
   * Password to set on the app role. Derived from the master key, so every replica agrees on it.
   * Omit it when the operator manages the role's credentials (an explicit app connection URL).
   */
  appRolePassword?: string;
}

/**
 * Creates or updates the app role, then applies pending migrations as the owner.
 * Kysely's migrator takes an advisory lock, so replicas starting together apply each file once.
 */
export async function migrateToLatest(owner: Kysely<any>, options: MigrateOptions): Promise<string[]> {
  await ensureAppRole(owner, options.appRolePassword);
  const migrator = new Migrator({
    db: owner,
    provider: new SqlFileMigrationProvider(options.migrationsDir ?? defaultMigrationsDir),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`migration ${failed} failed: ${(error as Error).message}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/**
 * A check that is true when every migration file has been applied; `/readyz` depends on it. The
 * files are listed once, here, since they do not change under a running process: each probe only
 * queries `kysely_migration`.
 */
export async function migrationsComplete(
  db: Kysely<any>,
  migrationsDir = defaultMigrationsDir,
): Promise<() => Promise<boolean>> {
  const expected = (await migrationFiles(migrationsDir)).map(migrationName);
  return async () => {
    const applied = await sql<{ name: string }>`select name from kysely_migration`
      .execute(db)
      .then((r) => new Set(r.rows.map((x) => x.name)))
      .catch(() => new Set<string>());
    return expected.every((name) => applied.has(name));
  };
}

async function ensureAppRole(owner: Kysely<any>, password: string | undefined) {
  // The password is derived (hex); refuse anything else rather than quote it into DDL.
  if (password !== undefined && !/^[A-Za-z0-9_-]{16,128}$/.test(password)) {
    throw new Error('app role password has an unexpected form');
  }
  const setPassword =
    password === undefined
      ? ''
      : `alter role ${APP_ROLE} with login nosuperuser nobypassrls password '${password}';`;
  await owner.transaction().execute(async (tx) => {
    // Replicas that start together would otherwise race on CREATE ROLE.
    await sql`select pg_advisory_xact_lock(hashtext('ampora:app-role'))`.execute(tx);
    await sql
      .raw(
        `do $$ begin
         if not exists (select 1 from pg_roles where rolname = '${APP_ROLE}') then
           create role ${APP_ROLE} login nosuperuser nocreatedb nocreaterole noinherit nobypassrls;
         end if;
       end $$;
       ${setPassword}`,
      )
      .execute(tx);
  });
}
