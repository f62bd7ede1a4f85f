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
        /** Comma-separated origins allowed by CORS. Empty: CORS stays off and browsers refuse cross-origin calls. */
        corsOrigins: Type.String({ default: '' }),
        /** Token buckets: each holds this many requests and refills at this rate per minute. 0 turns one off. */
        rateLimit: Type.Object(
          {
            principalPerMinute: Type.Integer({ default: 600, minimum: 0 }),
            ipPerMinute: Type.Integer({ default: 1200, minimum: 0 }),
          },
          { default: {} },
        ),
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
        /**
         * After enrollment agents connect only with their client certificate. `false` also admits
         * agents without any credentials, into the default tenant: local development only.
         */
        requireMtls: Type.Boolean({ default: true }),
        /**
         * Serves the OpAMP listener over plain HTTP, so bootstrap tokens (and server-generated private
         * keys) cross the network in clear. Local experiments only; refused in production.
         */
        bootstrapPlaintextAllowed: Type.Boolean({ default: false }),
        /** PEM server certificate (with its chain) of the OpAMP listener. Required in production. */
        tlsCertFile: Type.Optional(Type.String({ minLength: 1 })),
        /** PEM private key of the OpAMP listener. Required in production. */
        tlsKeyFile: Type.Optional(Type.String({ minLength: 1 })),
        /** PEM CA certificates agents need to verify the listener's certificate; offered to agents. */
        tlsCaFile: Type.Optional(Type.String({ minLength: 1 })),
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
    auth: Type.Object(
      {
        oidc: Type.Object(
          {
            /** The OpenID Provider's issuer URL. Setting it turns on operator login; required in production. */
            issuer: Type.Optional(Type.String({ format: 'uri' })),
            clientId: Type.Optional(Type.String({ minLength: 1 })),
            /** Confidential client secret. Held in memory only; never written to the database. */
            clientSecret: Type.Optional(Type.String({ minLength: 1 })),
            clientAuthMethod: Type.Union(
              [Type.Literal('client_secret_post'), Type.Literal('client_secret_basic')],
              { default: 'client_secret_post' },
            ),
            /** Expected `aud` of bearer tokens on the API. Default: the client id. */
            audience: Type.Optional(Type.String({ minLength: 1 })),
            roleClaim: Type.String({ default: 'ampora:role', minLength: 1 }),
            groupsClaim: Type.String({ default: 'groups', minLength: 1 }),
            tenantClaim: Type.String({ default: 'tenant', minLength: 1 }),
            scopes: Type.String({ default: 'openid profile email', pattern: '(^|\\s)openid(\\s|$)' }),
            /** Default: `<http.publicUrl>/auth/callback`, or the local listener in local mode. */
            redirectUrl: Type.Optional(Type.String({ format: 'uri' })),
            /** Where the IdP sends the browser after RP-initiated logout. Default: the public URL. */
            postLogoutRedirectUrl: Type.Optional(Type.String({ format: 'uri' })),
            /** Allows an `http://` issuer. For local development and tests; refused in production. */
            allowInsecureIssuer: Type.Boolean({ default: false }),
            clockToleranceSeconds: Seconds(30, 0, 300),
            /** Least time between two JWKS refetches caused by an unknown key id (key rotation). */
            jwksRefreshCooldownSeconds: Seconds(30, 0, 3600),
          },
          { default: {} },
        ),
        session: Type.Object(
          {
            idleTimeoutSeconds: Seconds(1800, 60, 86_400),
            absoluteTimeoutSeconds: Seconds(43_200, 300, 86_400 * 30),
          },
          { default: {} },
        ),
      },
      { default: {} },
    ),
    ca: Type.Object(
      {
        /** Key type of the CA keys Ampora generates (first start and rotation). */
        keyAlgorithm: Type.Union([Type.Literal('ecdsa-p256'), Type.Literal('rsa-3072')], {
          default: 'ecdsa-p256',
        }),
        /** Validity of a generated CA certificate. */
        caCertLifetimeDays: Type.Integer({ default: 3650, minimum: 30, maximum: 36_500 }),
        /** Validity of agent certificates (clamped to the CA certificate's). */
        agentCertLifetimeDays: Type.Integer({ default: 365, minimum: 1, maximum: 3650 }),
        /** Validity of the delegated OCSP responder certificate; renewed with a third of it left. */
        ocspResponderLifetimeDays: Type.Integer({ default: 90, minimum: 1, maximum: 365 }),
        /** Validity of the local-mode OpAMP server certificate; renewed with a third of it left. */
        serverCertLifetimeDays: Type.Integer({ default: 90, minimum: 1, maximum: 825 }),
        /** How long a replaced Active key stays Trusted (in the trust bundle) before it is Retired. */
        trustedWindowDays: Type.Integer({ default: 30, minimum: 0, maximum: 3650 }),
        /** A CRL's nextUpdate is thisUpdate plus this; it is republished with a third of it left. */
        crlNextUpdateMinutes: Type.Integer({ default: 15, minimum: 3, maximum: 10_080 }),
        /**
         * CRL distribution point written into certificates. `{keyId}` is replaced by the issuing
         * key's id. Default: `<http.publicUrl or http://127.0.0.1:<port>>/pki/crl/{keyId}.der`.
         */
        crlUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
        /** OCSP responder URL written into certificates. Default: `<http base>/pki/ocsp`. */
        ocspUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
        /** How long a certificate status looked up at a handshake is reused (revocations here clear it). */
        statusCacheSeconds: Type.Integer({ default: 5, minimum: 0, maximum: 300 }),
      },
      { default: {} },
    ),
    audit: Type.Object(
      {
        /**
         * Compliance preset for the retention tiers (hot days / total days): soc2 90/365,
         * hipaa 30/2190, pci 90/365, iso27001 90/1095. `hotDays` and `archiveDays` override it.
         */
        preset: Type.Optional(
          Type.Union([
            Type.Literal('soc2'),
            Type.Literal('hipaa'),
            Type.Literal('pci'),
            Type.Literal('iso27001'),
          ]),
        ),
        /** Days an event stays searchable without the archive. Default 90 (or the preset's). */
        hotDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 36_500 })),
        /**
         * Days an event is kept at all, hot and archive together; at least 365 and at least
         * `hotDays`. Default 2555, about seven years (or the preset's).
         */
        archiveDays: Type.Optional(Type.Integer({ minimum: 365, maximum: 36_500 })),
        sweepIntervalMinutes: Type.Integer({ default: 60, minimum: 1, maximum: 10_080 }),
        checkpointIntervalMinutes: Type.Integer({ default: 60, minimum: 1, maximum: 10_080 }),
      },
      { default: {} },
    ),
    enrollment: Type.Object(
      {
        /** Default lifetime of a bootstrap token (15 min to 168 h). */
        tokenTtlSeconds: Type.Integer({ default: 86_400, minimum: 900, maximum: 604_800 }),
        /**
         * An agent certificate is renewed once this fraction of its lifetime has passed (plus up to
         * a tenth of it as jitter, so a fleet enrolled together does not renew together).
         */
        renewAtFraction: Type.Number({ default: 2 / 3, exclusiveMinimum: 0, maximum: 0.95 }),
        /** A WebSocket that enrolled with a token is closed this long after it got its certificate. */
        bootstrapSessionGraceSeconds: Type.Integer({ default: 30, minimum: 1, maximum: 3600 }),
        /** Tokens one pool may mint per minute (token bucket). */
        poolTokensPerMinute: Type.Integer({ default: 600, minimum: 1, maximum: 100_000 }),
        /** Key type of server-generated agent keys (agents that send no CSR). */
        serverKeyType: Type.Union([Type.Literal('ecdsa-p256'), Type.Literal('rsa-2048')], {
          default: 'ecdsa-p256',
        }),
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
