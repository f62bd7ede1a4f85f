import Type, { type Static } from 'typebox';

const Port = Type.Integer({ minimum: 0, maximum: 65535 });
const Seconds = (def: number, min = 0, max = 86_400 * 365) =>
  Type.Integer({ default: def, minimum: min, maximum: max });

/**
 * The whole configuration. Each leaf is settable as an environment variable named after its path
 * (`opamp.maxMessageBytes` → `AMPORA_OPAMP_MAX_MESSAGE_BYTES`) or in the YAML file named by
 * `AMPORA_CONFIG_FILE`. Environment variables win over the file.
 */
export const ConfigSchema = Type.Object(
  {
    /** `local`: zero-config development. `production`: refuses unsafe or missing settings. */
    mode: Type.Union([Type.Literal('local'), Type.Literal('production')], { default: 'local' }),
    /** Where local mode keeps its embedded database, master key and generated material. */
    dataDir: Type.String({ default: '.data', minLength: 1 }),
    log: Type.Object(
      {
        level: Type.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace'].map((l) => Type.Literal(l)),
          { default: 'info' },
        ),
      },
      { default: {} },
    ),
    http: Type.Object(
      {
        host: Type.Optional(Type.String({ minLength: 1 })),
        port: Type.Integer({ default: 8080, minimum: 0, maximum: 65535 }),
        /** Externally reachable base URL; default URLs embedded in certificates derive from it. */
        publicUrl: Type.Optional(Type.String({ format: 'uri' })),
        bodyLimitBytes: Type.Integer({ default: 1_048_576, minimum: 1024 }),
        /** Comma-separated addresses/CIDRs of reverse proxies whose X-Forwarded-* headers are honoured. */
        trustedProxies: Type.String({ default: '' }),
      },
      { default: {} },
    ),
    opamp: Type.Object(
      {
        host: Type.Optional(Type.String({ minLength: 1 })),
        port: Type.Integer({ default: 4320, minimum: 0, maximum: 65535 }),
        path: Type.String({ default: '/v1/opamp', pattern: '^/' }),
        /** Externally reachable OpAMP URL offered to agents in connection settings. */
        publicUrl: Type.Optional(Type.String({ format: 'uri' })),
        maxMessageBytes: Type.Integer({ default: 10_485_760, minimum: 1024, maximum: 67_108_864 }),
        heartbeatIntervalSeconds: Seconds(30, 0, 3600),
        /** A session silent for this long (and advertising heartbeats) is closed and marked disconnected. */
        heartbeatWindowSeconds: Seconds(90, 1, 86_400),
        /** Sessions above this are refused with Unavailable / 503 and a retry hint. */
        maxSessions: Type.Integer({ default: 50_000, minimum: 1 }),
        /** Concurrent connection admissions (TLS handshakes, upgrades, first messages) before 429. */
        maxConcurrentAdmissions: Type.Integer({ default: 512, minimum: 1 }),
        retryAfterSeconds: Seconds(30, 1, 3600),
        /** Buffered agent state is written to Postgres at most this often. */
        flushIntervalMs: Type.Integer({ default: 1000, minimum: 10, maximum: 60_000 }),
      },
      { default: {} },
    ),
    database: Type.Object(
      {
        /** Owner connection used for migrations. Also read from DATABASE_URL. Unset: embedded Postgres. */
        url: Type.Optional(Type.String({ minLength: 1 })),
        /** App-role connection. Unset: derived from `url` with the app role and its derived password. */
        appUrl: Type.Optional(Type.String({ minLength: 1 })),
        poolMax: Type.Integer({ default: 20, minimum: 1, maximum: 500 }),
        embeddedPort: Type.Integer({ default: 54320, minimum: 1, maximum: 65535 }),
      },
      { default: {} },
    ),
    keyProtection: Type.Object(
      {
        /** Base64 of 32 random bytes. Required in production. */
        masterKey: Type.Optional(Type.String({ minLength: 1 })),
        previousMasterKey: Type.Optional(Type.String({ minLength: 1 })),
      },
      { default: {} },
    ),
    api: Type.Object(
      {
        /**
         * Serves the operator API without authentication. For local development only; refused in
         * production mode and ignored once an identity provider is configured.
         */
        insecureNoAuth: Type.Boolean({ default: false }),
      },
      { default: {} },
    ),
    testHooks: Type.Object(
      {
        /** Enables `/api/_test/*`, used by end-to-end tests to push messages to agents. Refused in production. */
        enabled: Type.Boolean({ default: false }),
      },
      { default: {} },
    ),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
export { Port };
