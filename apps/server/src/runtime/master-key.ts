import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/index.js';
import type { Logger } from '../observability/logger.js';

export interface MasterKeyMaterial {
  /** Base64 of 32 bytes. */
  current: string;
  previous?: string;
}

/**
 * The master key comes from configuration. Only local mode may fall back to a generated key file,
 * and it says so loudly: a key next to the data it protects protects nothing on a shared disk.
 */
export async function resolveMasterKey(config: Config, logger: Logger): Promise<MasterKeyMaterial> {
  const previous = config.keyProtection.previousMasterKey;
  if (config.keyProtection.masterKey) return { current: config.keyProtection.masterKey, previous };
  if (config.mode === 'production') {
    throw new Error('AMPORA_KEY_PROTECTION_MASTER_KEY is required in production mode');
  }
  const file = path.resolve(config.dataDir, 'master.key');
  if (!existsSync(file)) {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
    logger.warn(
      { file },
      'LOCAL MODE: generated a master key file. Set AMPORA_KEY_PROTECTION_MASTER_KEY for any real deployment',
    );
  } else {
    logger.warn(
      { file },
      'LOCAL MODE: using the master key file. Set AMPORA_KEY_PROTECTION_MASTER_KEY for any real deployment',
    );
  }
  return { current: readFileSync(file, 'utf8').trim(), previous };
}
