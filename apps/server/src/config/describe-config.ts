import type { TSchema } from 'typebox';
import { ConfigSchema } from './config-schema.js';
import { envNameFor } from './load-config.js';

export interface SettingDoc {
  env: string;
  yamlPath: string;
  type: string;
  default: string;
  description: string;
}

function typeOf(s: { type?: string; anyOf?: Array<{ const?: unknown }>; format?: string }): string {
  if (s.anyOf?.every((x) => x.const !== undefined)) return s.anyOf.map((x) => String(x.const)).join(' \\| ');
  return s.format ? `${s.type} (${s.format})` : (s.type ?? 'string');
}

/** Every setting with its environment name, YAML path, type, default and description. */
export function describeConfig(): SettingDoc[] {
  const out: SettingDoc[] = [];
  const walk = (schema: TSchema, path: string[]) => {
    const s = schema as {
      type?: string;
      properties?: Record<string, TSchema>;
      default?: unknown;
      description?: string;
    };
    if (s.type === 'object' && s.properties) {
      for (const [k, v] of Object.entries(s.properties)) walk(v, [...path, k]);
      return;
    }
    out.push({
      env: envNameFor(path),
      yamlPath: path.join('.'),
      type: typeOf(s as never),
      default: s.default === undefined ? '' : JSON.stringify(s.default),
      description: (s.description ?? '').replace(/\s+/g, ' ').trim(),
    });
  };
  walk(ConfigSchema, []);
  return out;
}

/** The body of docs/configuration.md. */
export function configurationMarkdown(): string {
  const rows = describeConfig().map(
    (d) =>
      `| \`${d.env}\` | \`${d.yamlPath}\` | ${d.type} | ${d.default ? `\`${d.default}\`` : ''} | ${d.description} |`,
  );
  return [
    '# Configuration reference',
    '',
    'Generated from the configuration schema (`npm run docs:config`); a test fails when this page is out of date.',
    '',
    'Every setting is an environment variable, or a key in the YAML file named by `AMPORA_CONFIG_FILE` (the YAML path column). Environment variables win over the file. `__` is accepted as the nesting separator too (`AMPORA_OPAMP__MAX_MESSAGE_BYTES`). `DATABASE_URL` is read as `AMPORA_DATABASE_URL`. An unknown `AMPORA_*` variable, a wrong type or an out-of-range value stops the server at start with a message naming the variable.',
    '',
    '| Variable | YAML path | Type | Default | Description |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
