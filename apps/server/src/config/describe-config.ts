import { Value } from 'typebox/value';
import { ConfigSchema, type Config } from './config-schema.js';
import { CONFIG_LEAVES } from './load-config.js';
import { checkSafety } from './safety.js';

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
  return CONFIG_LEAVES.map(({ path, env, schema }) => {
    const s = schema as { default?: unknown; description?: string };
    return {
      env,
      yamlPath: path.join('.'),
      type: typeOf(s as never),
      default: s.default === undefined ? '' : JSON.stringify(s.default),
      description: (s.description ?? '').replace(/\s+/g, ' ').trim(),
    };
  });
}

/**
 * Production configurations that between them trip every refusal of `checkSafety`: nothing set at
 * all, every development convenience switched on (with an http issuer and half a TLS pair), and an
 * http issuer alone. A new refusal that none of them trips must get a probe here to be documented.
 */
const PRODUCTION_PROBES: unknown[] = [
  { mode: 'production' },
  {
    mode: 'production',
    api: { insecureNoAuth: true },
    testHooks: { enabled: true },
    opamp: { requireMtls: false, bootstrapPlaintextAllowed: true, tlsCertFile: 'server.pem' },
    auth: { oidc: { issuer: 'http://idp.example', allowInsecureIssuer: true } },
  },
  { mode: 'production', auth: { oidc: { issuer: 'http://idp.example' } } },
];

/** Every message with which production mode refuses to start, in the order `checkSafety` reports them. */
export function productionRefusals(): string[] {
  const seen = new Set<string>();
  for (const probe of PRODUCTION_PROBES) {
    const config = Value.Default(ConfigSchema, probe) as Config;
    for (const refusal of checkSafety(config).refusals) seen.add(refusal);
  }
  return [...seen];
}

const cell = (text: string) => text.replace(/\|/g, '\\|');
/** Setting names in code spans, so they read as names (and underscores never turn into emphasis). */
const codeNames = (text: string) =>
  text.replace(/\b(?:AMPORA_[A-Z0-9_]+|DATABASE_URL)(?:=(?:true|false))?/g, (name) => `\`${name}\``);

/** The body of docs/configuration.md. */
export function configurationMarkdown(): string {
  const rows = describeConfig().map(
    (d) =>
      `| \`${d.env}\` | \`${d.yamlPath}\` | ${d.type} | ${d.default ? `\`${d.default}\`` : ''} | ${cell(d.description)} |`,
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
    '## Production mode',
    '',
    'With `AMPORA_MODE=production` the server refuses to start, and logs every reason at once, when it lacks a setting a real deployment needs or when a development convenience is switched on:',
    '',
    ...productionRefusals().map((r) => `- ${codeNames(r)}`),
    '',
    'The checks on settings that are set but inconsistent (OIDC client credentials, an http issuer, half a TLS pair) apply in local mode too. The development conveniences are allowed in local mode, and each one is logged as an `UNSAFE SETTING` warning at start.',
    '',
  ].join('\n');
}
