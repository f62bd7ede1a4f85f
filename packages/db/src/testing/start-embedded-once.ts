/**
 * Starts and stops an embedded cluster once, printing the uid it ran as. Used by the test that
 * proves a normal (non-root) user can run the embedded database.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '../embedded.js';

const dir = mkdtempSync(path.join(tmpdir(), 'ampora-user-'));
const pg = await startEmbeddedPostgres({
  dataDir: path.join(dir, 'pg'),
  port: Number(process.argv[2]),
  password: 'x',
});
console.warn(`started uid=${process.getuid?.()} dataDir=${pg.dataDir}`);
await pg.stop();
process.exit(0);
