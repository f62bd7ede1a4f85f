import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.js';
import { spawnServer, waitReady } from '../support/server-spawn.js';

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

describe('npm start in local mode', () => {
  it('starts an embedded PostgreSQL, generates a 0600 master key with a loud warning, drains on SIGTERM and restarts on the same data', async () => {
    const base = mkdtempSync(path.join(tmpdir(), 'ampora-local-'));
    // As root, the embedded cluster runs as the OS user postgres, which must reach the data directory.
    chmodSync(base, 0o755);
    const dataDir = path.join(base, 'data');
    const pgPort = await freePort();
    const env = {
      AMPORA_DATA_DIR: dataDir,
      AMPORA_DATABASE_EMBEDDED_PORT: String(pgPort),
      AMPORA_HTTP_PORT: String(await freePort()),
      AMPORA_OPAMP_PORT: String(await freePort()),
    };
    const url = `http://127.0.0.1:${env.AMPORA_HTTP_PORT}`;

    const first = spawnServer(env);
    await waitReady(url, first);
    const keyFile = path.join(dataDir, 'master.key');
    expect(existsSync(keyFile)).toBe(true);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(first.logs.join('\n')).toMatch(/LOCAL MODE: generated a master key file/);
    expect(await portOpen(pgPort)).toBe(true);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    // The embedded cluster stops with the server.
    expect(await portOpen(pgPort)).toBe(false);

    const second = spawnServer(env);
    await waitReady(url, second);
    expect(second.logs.join('\n')).toMatch(/using the master key file/);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);

    // The same data with a different master key is refused before anything is read or written.
    const wrong = spawnServer({
      ...env,
      AMPORA_KEY_PROTECTION_MASTER_KEY: randomBytes(32).toString('base64'),
    });
    expect(await wrong.exited).toBe(1);
    expect(wrong.logs.join('\n')).toMatch(/AMPORA_KEY_PROTECTION_MASTER_KEY does not match/);
    expect(await portOpen(pgPort)).toBe(false);
  }, 120_000);
});

describe('start-up refusals', () => {
  it('production mode without its essentials exits 1 and names each missing setting', async () => {
    const run = spawnServer({
      AMPORA_MODE: 'production',
      AMPORA_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'ampora-prod-')),
    });
    expect(await run.exited).toBe(1);
    const out = run.logs.join('\n');
    expect(out).toMatch(/AMPORA_KEY_PROTECTION_MASTER_KEY is required in production mode/);
    expect(out).toMatch(/DATABASE_URL/);
  });

  it('an invalid setting exits 2 and names the variable', async () => {
    const run = spawnServer({ AMPORA_HTTP_PORT: 'eighty' });
    expect(await run.exited).toBe(2);
    expect(run.logs.join('\n')).toMatch(/AMPORA_HTTP_PORT/);
  });

  it('a master key of the wrong length is refused by name, without echoing it', async () => {
    const run = spawnServer({
      AMPORA_KEY_PROTECTION_MASTER_KEY: 'c2hvcnQ=',
      AMPORA_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'ampora-badkey-')),
      AMPORA_HTTP_PORT: String(await freePort()),
      AMPORA_OPAMP_PORT: String(await freePort()),
      DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
    });
    expect(await run.exited).toBe(1);
    const out = run.logs.join('\n');
    expect(out).toMatch(/AMPORA_KEY_PROTECTION_MASTER_KEY/);
    expect(out).not.toMatch(/c2hvcnQ=/);
  });
});
