import { generateMasterKey } from '@ampora/keys';
import { createDatabase } from '@ampora/db';
import { checkMasterKey } from '../runtime/key-protection.js';
import type { CliRuntime } from './cli-runtime.js';
import { EXIT } from './cli-errors.js';
import { rewrapAll, type RewrapReport } from './rewrap.js';
import { SEALED_COLUMNS } from './sealed-columns.js';

/** `ampora keys generate-master-key`: a fresh key, printed once, stored nowhere. */
export function generateMasterKeyCommand(out: (line: string) => void): number {
  out(generateMasterKey());
  return EXIT.ok;
}

/**
 * `ampora keys rewrap`: after setting a new AMPORA_KEY_PROTECTION_MASTER_KEY and the old one as
 * AMPORA_KEY_PROTECTION_PREVIOUS_MASTER_KEY, moves every sealed value to the new key. Once it
 * reports no failures, the previous key can be removed from the configuration.
 */
export async function rewrapCommand(
  rt: Pick<CliRuntime, 'database' | 'keys' | 'clock' | 'logger' | 'canaryVerified'>,
  options: { dryRun: boolean; json: boolean },
  out: (line: string) => void,
): Promise<number> {
  const owner = createDatabase(rt.database.ownerUrl, { max: 1, applicationName: 'ampora-rewrap' });
  try {
    // Refuses to touch anything when the configured keys cannot open what the database holds
    // (already established while opening the runtime, unless the database had no canary yet).
    if (!rt.canaryVerified) await checkMasterKey(owner, rt.keys, rt.clock, rt.logger);
    const report = await rewrapAll(
      { db: owner, keys: rt.keys, clock: rt.clock, logger: rt.logger },
      SEALED_COLUMNS,
      {
        dryRun: options.dryRun,
      },
    );
    if (options.json) out(JSON.stringify(report));
    else for (const line of describe(report)) out(line);
    return report.failed > 0 ? EXIT.problem : EXIT.ok;
  } finally {
    await owner.destroy();
  }
}

function describe(r: RewrapReport): string[] {
  const verb = r.dryRun ? 'would rewrap' : 'rewrapped';
  const lines = r.columns.map((c) =>
    c.skipped
      ? `${c.table}.${c.column}: skipped (${c.skipped})`
      : `${c.table}.${c.column}: ${c.scanned} sealed value(s), ${verb} ${c.rewrapped}, ${c.upToDate} already current` +
        (c.changedMeanwhile ? `, ${c.changedMeanwhile} changed meanwhile` : '') +
        (c.failed ? `, ${c.failed} FAILED` : ''),
  );
  lines.push(`key-check canary: ${r.canary}`);
  if (r.failed > 0)
    lines.push(`${r.failed} value(s) could not be rewrapped; keep the previous master key configured`);
  else if (!r.dryRun) lines.push('done: every sealed value is under the current master key');
  return lines;
}
