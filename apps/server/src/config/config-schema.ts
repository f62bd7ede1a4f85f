import Type, { type Static } from 'typebox';

const Port = Type.Integer({ minimum: 0, maximum: 65535 });
const Seconds = (description: string, def: number, min = 0, max = 86_400 * 365) =>
  Type.Integer({ default: def, minimum: min, maximum: max, description });

/**
 * The whole configuration. Each leaf is settable as an environment variable named after its path
 * (`opamp.maxMessageBytes` → `AMPORA_OPAMP_MAX_MESSAGE_BYTES`) or in the YAML file named by
 * `AMPORA_CONFIG_FILE`. Environment variables win over the file. Every leaf carries a one-sentence,
 * user-facing `description`: it is the description column of docs/configuration.md.
 */
export const ConfigSchema = Type.Object(
  {
    mode: Type.Union([Type.Literal('local'), Type.Literal('production')], {
      default: 'local',
      description:
        '`local` runs with zero configuration for development (embedded Postgres, generated keys); `production` refuses to start with unsafe or missing settings (see "Production mode" below).',
    }),
    dataDir: Type.String({
      default: '.data',
      minLength: 1,
      description:
        'Directory where local mode keeps its embedded database, generated master key and other generated material.',
    }),
    log: Type.Object(
      {
        level: Type.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace'].map((l) => Type.Literal(l)),
          {
            default: 'info',
            description: 'Least severe level that is logged; `debug` and `trace` are for troubleshooting.',
          },
        ),
      },
      { default: {} },
    ),
    http: Type.Object(
      {
        host: Type.Optional(
          Type.String({
            minLength: 1,
            description:
              'Address the HTTP API listens on; default `127.0.0.1` in local mode and `0.0.0.0` in production mode.',
          }),
        ),
        port: Type.Integer({
          default: 8080,
          minimum: 0,
          maximum: 65535,
          description:
            'Port of the HTTP listener (operator API, health checks, `/metrics`, PKI endpoints); 0 picks a free port.',
        }),
        publicUrl: Type.Optional(
          Type.String({
            format: 'uri',
            description:
              'Externally reachable base URL of the HTTP listener; the default OIDC redirect URL and the CRL and OCSP URLs written into certificates derive from it.',
          }),
        ),
        bodyLimitBytes: Type.Integer({
          default: 1_048_576,
          minimum: 1024,
          description: 'Largest request body the HTTP API accepts, in bytes; larger requests get 413.',
        }),
        trustedProxies: Type.String({
          default: '',
          description:
            'Comma-separated addresses or CIDRs of reverse proxies whose `X-Forwarded-*` headers are honoured; empty trusts none.',
        }),
        corsOrigins: Type.String({
          default: '',
          description:
            'Comma-separated origins allowed to call the API from a browser; empty keeps CORS off, so browsers refuse cross-origin calls.',
        }),
        rateLimit: Type.Object(
          {
            principalPerMinute: Type.Integer({
              default: 600,
              minimum: 0,
              description:
                'API requests one authenticated caller may make per minute (a token bucket of this size, refilled at this rate); 0 turns the limit off.',
            }),
            ipPerMinute: Type.Integer({
              default: 1200,
              minimum: 0,
              description:
                'API requests one client IP address may make per minute (a token bucket of this size, refilled at this rate); 0 turns the limit off.',
            }),
          },
          { default: {} },
        ),
      },
      { default: {} },
    ),
    opamp: Type.Object(
      {
        host: Type.Optional(
          Type.String({
            minLength: 1,
            description:
              'Address the OpAMP listener binds to; default `127.0.0.1` in local mode and `0.0.0.0` in production mode.',
          }),
        ),
        port: Type.Integer({
          default: 4320,
          minimum: 0,
          maximum: 65535,
          description: 'Port of the OpAMP listener (WebSocket and plain-HTTP agents); 0 picks a free port.',
        }),
        path: Type.String({
          default: '/v1/opamp',
          pattern: '^/',
          description: 'URL path agents connect to, over WebSocket and plain HTTP alike.',
        }),
        publicUrl: Type.Optional(
          Type.String({
            format: 'uri',
            description:
              "Externally reachable OpAMP URL offered to agents in connection settings; default: derived from the listener's host, port and path.",
          }),
        ),
        maxMessageBytes: Type.Integer({
          default: 10_485_760,
          minimum: 1024,
          maximum: 67_108_864,
          description:
            'Largest OpAMP message accepted or sent, in bytes after decompression; a larger WebSocket message closes its stream with 1009 and a larger HTTP body gets 413.',
        }),
        heartbeatIntervalSeconds: Seconds(
          'Heartbeat interval, in seconds, offered to agents that report heartbeats and accept connection settings; 0 offers none, so agents keep their own interval and no session is closed for silence.',
          30,
          0,
          3600,
        ),
        heartbeatWindowSeconds: Seconds(
          'Seconds of silence after which a session that was offered a heartbeat interval is closed and marked disconnected (and after which a plain-HTTP agent that stopped polling is marked disconnected); keep it a few intervals long.',
          90,
          1,
          86_400,
        ),
        maxSessions: Type.Integer({
          default: 50_000,
          minimum: 1,
          description:
            'Most agent sessions this instance serves; further WebSocket upgrades and new plain-HTTP agents are refused with 503 and a retry hint.',
        }),
        maxConcurrentAdmissions: Type.Integer({
          default: 512,
          minimum: 1,
          description:
            'Most connection admissions (credential checks before the first message) in progress at once; further attempts get 429 with a retry hint.',
        }),
        retryAfterSeconds: Seconds(
          'Delay, in seconds, that refused or overloaded agents are told to wait before retrying (`Retry-After` header and OpAMP `retry_info`); the OpAMP specification recommends at least 30.',
          30,
          1,
          3600,
        ),
        flushIntervalMs: Type.Integer({
          default: 1000,
          minimum: 10,
          maximum: 60_000,
          description:
            'How often, in milliseconds, buffered agent state (status reports, connects, disconnects) is written to Postgres; whatever is still buffered is written at shutdown.',
        }),
        requireMtls: Type.Boolean({
          default: true,
          description:
            'After enrollment agents connect only with their client certificate; `false` also admits agents without any credentials into the default tenant, for local development only.',
        }),
        bootstrapPlaintextAllowed: Type.Boolean({
          default: false,
          description:
            'Serves the OpAMP listener over plain HTTP, so bootstrap tokens and server-generated private keys cross the network in clear; for local experiments only.',
        }),
        tlsCertFile: Type.Optional(
          Type.String({
            minLength: 1,
            description:
              "PEM file with the OpAMP listener's server certificate and its chain; required in production mode.",
          }),
        ),
        tlsKeyFile: Type.Optional(
          Type.String({
            minLength: 1,
            description: "PEM file with the OpAMP listener's private key; required in production mode.",
          }),
        ),
        tlsCaFile: Type.Optional(
          Type.String({
            minLength: 1,
            description:
              "PEM file with the CA certificates agents need to verify the listener's certificate; offered to agents in connection settings.",
          }),
        ),
      },
      { default: {} },
    ),
    database: Type.Object(
      {
        url: Type.Optional(
          Type.String({
            minLength: 1,
            description:
              'Owner connection URL, used for migrations (also read from `DATABASE_URL`); unset, local mode starts an embedded Postgres.',
          }),
        ),
        appUrl: Type.Optional(
          Type.String({
            minLength: 1,
            description:
              'Connection URL of the restricted app role the server runs as; unset, it is derived from `url` with the app role and a password derived from the master key.',
          }),
        ),
        poolMax: Type.Integer({
          default: 20,
          minimum: 1,
          maximum: 500,
          description: "Most connections in the app role's connection pool.",
        }),
        embeddedPort: Type.Integer({
          default: 54320,
          minimum: 1,
          maximum: 65535,
          description: 'Port of the embedded Postgres that local mode starts when no database URL is set.',
        }),
      },
      { default: {} },
    ),
    keyProtection: Type.Object(
      {
        masterKey: Type.Optional(
          Type.String({
            minLength: 1,
            description:
              'Base64 of 32 random bytes that protects the stored private keys and secrets; required in production mode (local mode generates a key file in the data directory).',
          }),
        ),
        previousMasterKey: Type.Optional(
          Type.String({
            minLength: 1,
            description:
              'The master key being rotated away from, so data still wrapped under it stays readable until `ampora keys rewrap` finishes the rotation.',
          }),
        ),
      },
      { default: {} },
    ),
    api: Type.Object(
      {
        insecureNoAuth: Type.Boolean({
          default: false,
          description:
            'Serves the operator API without authentication, for local development only; ignored once an identity provider is configured.',
        }),
      },
      { default: {} },
    ),
    auth: Type.Object(
      {
        oidc: Type.Object(
          {
            issuer: Type.Optional(
              Type.String({
                format: 'uri',
                description:
                  "The OpenID Provider's issuer URL; setting it turns on operator login, and production mode requires it.",
              }),
            ),
            clientId: Type.Optional(
              Type.String({
                minLength: 1,
                description:
                  "Ampora's OAuth client id at the OpenID Provider; required when `issuer` is set.",
              }),
            ),
            clientSecret: Type.Optional(
              Type.String({
                minLength: 1,
                description:
                  'Confidential client secret, required when `issuer` is set; held in memory only and never written to the database.',
              }),
            ),
            clientAuthMethod: Type.Union(
              [Type.Literal('client_secret_post'), Type.Literal('client_secret_basic')],
              {
                default: 'client_secret_post',
                description: "How Ampora authenticates itself at the provider's token endpoint.",
              },
            ),
            audience: Type.Optional(
              Type.String({
                minLength: 1,
                description: 'Expected `aud` of bearer tokens presented to the API; default: the client id.',
              }),
            ),
            roleClaim: Type.String({
              default: 'ampora:role',
              minLength: 1,
              description:
                "Token claim that carries the user's Ampora role, used while no group-to-role mappings are configured.",
            }),
            groupsClaim: Type.String({
              default: 'groups',
              minLength: 1,
              description:
                "Token claim that carries the user's groups, matched against the group-to-role mappings.",
            }),
            tenantClaim: Type.String({
              default: 'tenant',
              minLength: 1,
              description: "Token claim that names the user's tenant.",
            }),
            scopes: Type.String({
              default: 'openid profile email',
              pattern: '(^|\\s)openid(\\s|$)',
              description: 'Space-separated scopes requested at login; must include `openid`.',
            }),
            redirectUrl: Type.Optional(
              Type.String({
                format: 'uri',
                description:
                  'Where the provider sends the browser back after login; default: `<http.publicUrl>/auth/callback`, or the local listener in local mode.',
              }),
            ),
            postLogoutRedirectUrl: Type.Optional(
              Type.String({
                format: 'uri',
                description:
                  'Where the provider sends the browser after RP-initiated logout; default: the public URL.',
              }),
            ),
            allowInsecureIssuer: Type.Boolean({
              default: false,
              description: 'Allows an `http://` issuer URL, for local development and tests only.',
            }),
            clockToleranceSeconds: Seconds(
              'Clock skew, in seconds, tolerated when checking the times in tokens (`exp`, `iat`, `nbf`).',
              30,
              0,
              300,
            ),
            jwksRefreshCooldownSeconds: Seconds(
              "Least time, in seconds, between two refetches of the provider's signing keys caused by an unknown key id (key rotation).",
              30,
              0,
              3600,
            ),
          },
          { default: {} },
        ),
        session: Type.Object(
          {
            idleTimeoutSeconds: Seconds(
              'An operator login session unused for this many seconds ends.',
              1800,
              60,
              86_400,
            ),
            absoluteTimeoutSeconds: Seconds(
              'An operator login session ends this many seconds after sign-in, however active it is.',
              43_200,
              300,
              86_400 * 30,
            ),
          },
          { default: {} },
        ),
      },
      { default: {} },
    ),
    ca: Type.Object(
      {
        keyAlgorithm: Type.Union([Type.Literal('ecdsa-p256'), Type.Literal('rsa-3072')], {
          default: 'ecdsa-p256',
          description: 'Key type of the CA keys Ampora generates, at first start and at rotation.',
        }),
        caCertLifetimeDays: Type.Integer({
          default: 3650,
          minimum: 30,
          maximum: 36_500,
          description: 'Validity of a generated CA certificate, in days.',
        }),
        agentCertLifetimeDays: Type.Integer({
          default: 365,
          minimum: 1,
          maximum: 3650,
          description: "Validity of agent certificates, in days (never beyond the issuing CA certificate's).",
        }),
        ocspResponderLifetimeDays: Type.Integer({
          default: 90,
          minimum: 1,
          maximum: 365,
          description:
            'Validity of the delegated OCSP responder certificate, in days; it is renewed with a third of it left.',
        }),
        serverCertLifetimeDays: Type.Integer({
          default: 90,
          minimum: 1,
          maximum: 825,
          description:
            'Validity of the OpAMP server certificate generated in local mode, in days; it is renewed with a third of it left.',
        }),
        trustedWindowDays: Type.Integer({
          default: 30,
          minimum: 0,
          maximum: 3650,
          description:
            'Days a replaced active CA key stays trusted (in the trust bundle) before it is retired.',
        }),
        crlNextUpdateMinutes: Type.Integer({
          default: 15,
          minimum: 3,
          maximum: 10_080,
          description:
            "Minutes from a CRL's `thisUpdate` to its `nextUpdate`; the CRL is republished with a third of it left.",
        }),
        crlUrl: Type.Optional(
          Type.String({
            pattern: '^https?://',
            description:
              "CRL distribution point written into certificates, with `{keyId}` replaced by the issuing key's id; default: `<http.publicUrl or http://127.0.0.1:<port>>/pki/crl/{keyId}.der`.",
          }),
        ),
        ocspUrl: Type.Optional(
          Type.String({
            pattern: '^https?://',
            description:
              'OCSP responder URL written into certificates; default: `<http.publicUrl or http://127.0.0.1:<port>>/pki/ocsp`.',
          }),
        ),
        statusCacheSeconds: Type.Integer({
          default: 5,
          minimum: 0,
          maximum: 300,
          description:
            'Seconds a certificate status looked up at a TLS handshake is reused; revocations on this instance clear it at once, and those of other instances within `revocationPollSeconds`.',
        }),
        revocationPollSeconds: Type.Integer({
          default: 5,
          minimum: 1,
          maximum: 300,
          description:
            "How often, in seconds, each instance reads the revocations other instances made, to close the revoked agents' live sessions and clear its cached status.",
        }),
      },
      { default: {} },
    ),
    audit: Type.Object(
      {
        preset: Type.Optional(
          Type.Union(
            [Type.Literal('soc2'), Type.Literal('hipaa'), Type.Literal('pci'), Type.Literal('iso27001')],
            {
              description:
                'Compliance preset for the retention tiers (hot days / total days): soc2 90/365, hipaa 30/2190, pci 90/365, iso27001 90/1095; `hotDays` and `archiveDays` override it.',
            },
          ),
        ),
        hotDays: Type.Optional(
          Type.Integer({
            minimum: 1,
            maximum: 36_500,
            description:
              "Days an audit event stays searchable without the archive; default 90, or the preset's.",
          }),
        ),
        archiveDays: Type.Optional(
          Type.Integer({
            minimum: 365,
            maximum: 36_500,
            description:
              "Days an audit event is kept at all, hot and archive together, and at least `hotDays`; default 2555 (about seven years), or the preset's.",
          }),
        ),
        sweepIntervalMinutes: Type.Integer({
          default: 60,
          minimum: 1,
          maximum: 10_080,
          description:
            'How often, in minutes, the retention sweep moves old audit events to the archive and purges expired ones.',
        }),
        checkpointIntervalMinutes: Type.Integer({
          default: 60,
          minimum: 1,
          maximum: 10_080,
          description: "How often, in minutes, each tenant's audit chain gets a signed checkpoint.",
        }),
      },
      { default: {} },
    ),
    approvals: Type.Object(
      {
        requestTtlHours: Type.Integer({
          default: 72,
          minimum: 1,
          maximum: 720,
          description:
            'Hours an approval request (four eyes) stays open; after that it can no longer be approved, rejected or cancelled, and its owner asks again.',
        }),
      },
      { default: {} },
    ),
    enrollment: Type.Object(
      {
        tokenTtlSeconds: Type.Integer({
          default: 86_400,
          minimum: 900,
          maximum: 604_800,
          description: 'Default lifetime of a bootstrap token, in seconds (15 minutes to 168 hours).',
        }),
        renewAtFraction: Type.Number({
          default: 2 / 3,
          exclusiveMinimum: 0,
          maximum: 0.95,
          description:
            'Fraction of its lifetime after which an agent certificate is renewed, plus up to a tenth of the lifetime as jitter so that a fleet enrolled together does not renew together.',
        }),
        bootstrapSessionGraceSeconds: Type.Integer({
          default: 30,
          minimum: 1,
          maximum: 3600,
          description:
            'Seconds after a WebSocket agent enrolled with a bootstrap token gets its certificate before that stream is closed, so it reconnects with the certificate.',
        }),
        poolTokensPerMinute: Type.Integer({
          default: 600,
          minimum: 1,
          maximum: 100_000,
          description: 'Bootstrap tokens one enrollment pool may mint per minute (a token bucket).',
        }),
        serverKeyType: Type.Union([Type.Literal('ecdsa-p256'), Type.Literal('rsa-2048')], {
          default: 'ecdsa-p256',
          description: 'Key type of the agent keys the server generates for agents that send no CSR.',
        }),
        expiredTokenGraceDays: Type.Integer({
          default: 7,
          minimum: 0,
          maximum: 365,
          description:
            'Days an expired bootstrap token is kept (listed as expired, and refused as `token_expired`) before the sweep deletes it; after that it is refused as unknown.',
        }),
        redemptionRetentionDays: Type.Integer({
          default: 30,
          minimum: 1,
          maximum: 3650,
          description:
            'Days the record of a redeemed bootstrap token is kept, so that a reuse is refused as `token_already_used` rather than as unknown.',
        }),
        sweepIntervalMinutes: Type.Integer({
          default: 15,
          minimum: 1,
          maximum: 10_080,
          description:
            'How often, in minutes, the enrollment sweep deletes expired bootstrap tokens and old redemption records.',
        }),
        sweepBatchSize: Type.Integer({
          default: 10_000,
          minimum: 10,
          maximum: 100_000,
          description:
            'Most expired tokens, and most redemption records, one sweep deletes per tenant; a larger backlog drains over the following sweeps.',
        }),
      },
      { default: {} },
    ),
    testHooks: Type.Object(
      {
        enabled: Type.Boolean({
          default: false,
          description:
            'Enables the `/api/_test/*` endpoints that end-to-end tests use to push messages to agents; never for real deployments.',
        }),
      },
      { default: {} },
    ),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
export { Port };
