import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Test-only: runs the system openssl CLI as an outside judge of what this package produces. */

export interface OpensslResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout and stderr together; openssl splits its verdicts between them. */
  readonly output: string;
}

export interface Workdir {
  readonly dir: string;
  path(name: string): string;
  write(name: string, content: string | Uint8Array): string;
  openssl(...args: string[]): OpensslResult;
  remove(): void;
}

export interface WorkdirOptions {
  /** Kill an openssl run that takes longer (e.g. one left waiting on a server that never answers). */
  timeoutMs?: number;
}

export function workdir(options: WorkdirOptions = {}): Workdir {
  const dir = mkdtempSync(join(tmpdir(), 'ampora-pki-'));
  return {
    dir,
    path: (name) => join(dir, name),
    write(name, content) {
      const file = join(dir, name);
      writeFileSync(file, content);
      return file;
    },
    openssl(...args) {
      const result = spawnSync('/usr/bin/openssl', args, {
        cwd: dir,
        encoding: 'utf8',
        timeout: options.timeoutMs,
      });
      if (result.error) throw result.error;
      return {
        status: result.status ?? -1,
        stdout: result.stdout,
        stderr: result.stderr,
        output: `${result.stdout}${result.stderr}`,
      };
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
