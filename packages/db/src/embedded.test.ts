import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
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
});
