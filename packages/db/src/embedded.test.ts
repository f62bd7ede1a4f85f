import { chmodSync, mkdtempSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../../test/support/ports.js';
import { startEmbeddedPostgres } from './embedded.js';

describe('embedded PostgreSQL start-up errors', () => {
  it('names the busy port and the settings that fix it', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const dataDir = path.join(mkdtempSync(path.join(tmpdir(), 'ampora-pg-busy-')), 'cluster');
      await expect(startEmbeddedPostgres({ dataDir, port, password: 'x' })).rejects.toThrow(
        new RegExp(`127\\.0\\.0\\.1:${port}.*in use.*AMPORA_DATABASE_EMBEDDED_PORT.*DATABASE_URL`),
      );
    } finally {
      blocker.close();
    }
  });

  it('refuses a data directory locked by a live process and names its pid', async () => {
    const dataDir = path.join(mkdtempSync(path.join(tmpdir(), 'ampora-pg-lock-')), 'cluster');
    mkdirSync(dataDir, { recursive: true });
    // Our own pid is certainly alive: it stands in for a postmaster left behind by kill -9.
    writeFileSync(path.join(dataDir, 'postmaster.pid'), `${process.pid}\n${dataDir}\n`);
    await expect(startEmbeddedPostgres({ dataDir, port: await freePort(), password: 'x' })).rejects.toThrow(
      new RegExp(`locked by a running postgres process \\(pid ${process.pid}\\)`),
    );
  });

  it.skipIf(process.getuid?.() !== 0)(
    'as root, a data directory the postgres user cannot reach moves to a reachable place, and says so',
    async () => {
      const hidden = mkdtempSync(path.join(tmpdir(), 'ampora-hidden-')); // 0700: postgres cannot enter
      const fallback = mkdtempSync(path.join(tmpdir(), 'ampora-fallback-'));
      chmodSync(fallback, 0o755);
      const notices: string[] = [];
      const pg = await startEmbeddedPostgres({
        dataDir: path.join(hidden, 'data', 'postgres'),
        port: await freePort(),
        password: 'x',
        rootFallbackDir: fallback,
        notice: (m) => notices.push(m),
      });
      try {
        expect(pg.dataDir.startsWith(fallback)).toBe(true);
        expect(notices.join()).toMatch(new RegExp(`${hidden} is not searchable by the OS user "postgres"`));
      } finally {
        await pg.stop();
      }
    },
  );

  it.skipIf(process.getuid?.() !== 0)(
    'as root, when neither place is reachable the error names both and the fix',
    async () => {
      const hidden = mkdtempSync(path.join(tmpdir(), 'ampora-hidden-'));
      const alsoHidden = mkdtempSync(path.join(tmpdir(), 'ampora-hidden-fallback-'));
      await expect(
        startEmbeddedPostgres({
          dataDir: path.join(hidden, 'data', 'postgres'),
          port: await freePort(),
          password: 'x',
          rootFallbackDir: path.join(alsoHidden, 'nested'),
        }),
      ).rejects.toThrow(new RegExp(`${hidden} is not searchable.*${alsoHidden}.*chmod o\\+x`));
    },
  );

  // Needs root (to switch users) and a checkout that other users can reach.
  const repoReachable = (() => {
    for (let d = path.resolve(import.meta.dirname, '../../..'); ; d = path.dirname(d)) {
      if ((statSync(d).mode & 0o001) === 0) return false;
      if (d === path.dirname(d)) return true;
    }
  })();
  it.skipIf(process.getuid?.() !== 0 || !repoReachable)(
    'runs as a normal user too (spawned as `nobody`)',
    async () => {
      const port = await freePort();
      const script = path.resolve(import.meta.dirname, 'testing/start-embedded-once.ts');
      const root = path.resolve(import.meta.dirname, '../../..');
      const result = spawnSync(
        'su',
        [
          '-s',
          '/bin/sh',
          'nobody',
          '-c',
          `cd ${root} && HOME=/tmp ${process.execPath} --import tsx ${script} ${port}`,
        ],
        { encoding: 'utf8', timeout: 60_000 },
      );
      expect(result.stderr + result.stdout).toMatch(/started uid=65534 dataDir=\/tmp\/ampora-user-/);
      expect(result.status).toBe(0);
    },
  );
});
