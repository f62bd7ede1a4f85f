import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { createDatabase, migrateToLatest, startEmbeddedPostgres, type EmbeddedPostgres } from '@ampora/db';
import { freePort } from './ports.js';
import { TEMPLATE_DB, TEST_APP_PASSWORD } from './constants.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgOwnerUrl: string;
  }
}

/**
 * One PostgreSQL for the whole run: the embedded one by default, or AMPORA_TEST_DATABASE_URL.
 * Migrations are applied once to a template database that each test file clones.
 */
export default async function setup(project: TestProject) {
  let embedded: EmbeddedPostgres | undefined;
  let dataDir: string | undefined;
  let ownerUrl = process.env.AMPORA_TEST_DATABASE_URL;
  if (!ownerUrl) {
    dataDir = await mkdtemp(path.join(tmpdir(), 'ampora-test-pg-'));
    embedded = await startEmbeddedPostgres({
      dataDir: path.join(dataDir, 'cluster'),
      port: await freePort(),
      password: 'ampora-test-owner',
    });
    ownerUrl = embedded.url;
  }

  await recreateDatabase(ownerUrl, TEMPLATE_DB);
  const templateUrl = withDatabase(ownerUrl, TEMPLATE_DB);
  const owner = createDatabase(templateUrl, { max: 1 });
  try {
    await migrateToLatest(owner, { appRolePassword: TEST_APP_PASSWORD });
  } finally {
    await owner.destroy();
  }

  project.provide('pgOwnerUrl', ownerUrl);

  return async () => {
    await dropTestDatabases(ownerUrl);
    await embedded?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  };
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function recreateDatabase(ownerUrl: string, name: string) {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    await client.query(`drop database if exists ${name} with (force)`);
    await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
}

async function dropTestDatabases(ownerUrl: string) {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>(
      `select datname from pg_database where datname like 'ampora_t_%' or datname = $1`,
      [TEMPLATE_DB],
    );
    for (const { datname } of rows) await client.query(`drop database if exists ${datname} with (force)`);
  } finally {
    await client.end();
  }
}
