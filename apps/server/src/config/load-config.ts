import { readFileSync } from 'node:fs';
import { Value } from 'typebox/value';
import type { TSchema } from 'typebox';
import { parse as parseYaml } from 'yaml';
import { ConfigSchema, type Config } from './config-schema.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export type ConfigLeaf = { path: string[]; env: string; schema: TSchema };

/** `keyProtection.masterKey` → `AMPORA_KEY_PROTECTION_MASTER_KEY`. */
export function envNameFor(path: string[]): string {
  return 'AMPORA_' + path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_');
}

function leaves(schema: TSchema, path: string[] = []): ConfigLeaf[] {
  const s = schema as { type?: string; properties?: Record<string, TSchema> };
  if (s.type === 'object' && s.properties) {
    return Object.entries(s.properties).flatMap(([k, v]) => leaves(v, [...path, k]));
  }
  return [{ path, env: envNameFor(path), schema }];
}

/** Every setting, in schema order: what the environment can set, and what the docs list. */
export const CONFIG_LEAVES = leaves(ConfigSchema);

function coerce(raw: string, schema: TSchema, env: string): unknown {
  const type = (schema as { type?: string }).type;
  if (type === 'integer' || type === 'number') {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n))
      throw new ConfigError(`${env}: expected a number, got "${raw}"`);
    return n;
  }
  if (type === 'boolean') {
    if (/^(true|1|yes)$/i.test(raw)) return true;
    if (/^(false|0|no)$/i.test(raw)) return false;
    throw new ConfigError(`${env}: expected true or false, got "${raw}"`);
  }
  return raw;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown) {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    node = (typeof next === 'object' && next !== null ? next : (node[key] = {})) as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

/**
 * Reads, merges and validates the configuration. Unknown `AMPORA_*` variables are errors, so a typo
 * never silently falls back to a default. Errors name the variable (or file key) at fault.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  let input: Record<string, unknown> = {};
  const file = env.AMPORA_CONFIG_FILE;
  if (file) {
    let parsed: unknown;
    try {
      parsed = parseYaml(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError(`AMPORA_CONFIG_FILE: cannot read ${file}: ${(err as Error).message}`);
    }
    if (parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed))) {
      throw new ConfigError(`AMPORA_CONFIG_FILE: ${file} must hold a mapping`);
    }
    input = (parsed ?? {}) as Record<string, unknown>;
  }

  const known = new Set(CONFIG_LEAVES.map((l) => l.env).concat('AMPORA_CONFIG_FILE'));
  for (const name of Object.keys(env)) {
    if (name.startsWith('AMPORA_') && !known.has(name) && !known.has(name.replace(/__/g, '_'))) {
      throw new ConfigError(`${name}: unknown setting`);
    }
  }
  for (const leaf of CONFIG_LEAVES) {
    // `__` is accepted as the nesting separator too (AMPORA_OPAMP__MAX_MESSAGE_BYTES).
    const raw = env[leaf.env] ?? findDoubleUnderscore(env, leaf.env);
    if (raw !== undefined) setPath(input, leaf.path, coerce(raw, leaf.schema, leaf.env));
  }
  if (env.DATABASE_URL && !env.AMPORA_DATABASE_URL) setPath(input, ['database', 'url'], env.DATABASE_URL);

  const withDefaults = Value.Default(ConfigSchema, input);
  const errors = [...Value.Errors(ConfigSchema, withDefaults)];
  if (errors.length > 0) {
    const first = errors[0]!;
    const path = first.instancePath.split('/').filter(Boolean);
    const where = path.length ? `${envNameFor(path)} (${path.join('.')})` : 'configuration';
    throw new ConfigError(`${where}: ${first.message}`);
  }
  return withDefaults as Config;
}

function findDoubleUnderscore(env: NodeJS.ProcessEnv, flat: string): string | undefined {
  for (const [name, value] of Object.entries(env)) {
    if (name.includes('__') && name.replace(/__/g, '_') === flat) return value;
  }
  return undefined;
}
