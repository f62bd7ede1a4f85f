import Type from 'typebox';

export const AgentId = Type.String({ format: 'uuid', description: 'Server-assigned agent id (UUIDv7)' });

export const AgentSummary = Type.Object({
  id: AgentId,
  instanceUid: Type.String({ description: 'OpAMP instance_uid as a UUID string' }),
  agentType: Type.Union([Type.String(), Type.Null()]),
  agentVersion: Type.Union([Type.String(), Type.Null()]),
  hostName: Type.Union([Type.String(), Type.Null()]),
  attributes: Type.Record(Type.String(), Type.String()),
  capabilities: Type.Array(Type.String(), { description: 'Decoded AgentCapabilities flags' }),
  healthy: Type.Union([Type.Boolean(), Type.Null()]),
  effectiveConfigHash: Type.Union([Type.String(), Type.Null()]),
  connected: Type.Boolean(),
  transport: Type.Union([Type.Literal('websocket'), Type.Literal('http'), Type.Null()]),
  remoteAddress: Type.Union([Type.String(), Type.Null()]),
  firstSeenAt: Type.String({ format: 'date-time' }),
  lastSeenAt: Type.String({ format: 'date-time' }),
});

const AnyJson = Type.Unknown();

export const HealthNode = Type.Object({
  name: Type.String(),
  healthy: Type.Boolean(),
  status: Type.Union([Type.String(), Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()]),
  startTime: Type.Union([Type.String(), Type.Null()]),
  statusTime: Type.Union([Type.String(), Type.Null()]),
  children: Type.Array(Type.Unknown(), { description: 'Nested HealthNode objects' }),
});

export const AgentDetail = Type.Intersect([
  AgentSummary,
  Type.Object({
    capabilityBits: Type.Integer(),
    description: AnyJson,
    health: Type.Union([HealthNode, Type.Null()]),
    effectiveConfig: Type.Union([
      Type.Object({
        hash: Type.Union([Type.String(), Type.Null()]),
        files: Type.Record(
          Type.String(),
          Type.Object({
            contentType: Type.String(),
            body: Type.String(),
            encoding: Type.Union([Type.Literal('utf8'), Type.Literal('base64')]),
          }),
        ),
      }),
      Type.Null(),
    ]),
    remoteConfigStatus: AnyJson,
    packageStatuses: AnyJson,
    availableComponents: AnyJson,
    customCapabilities: AnyJson,
    connectionSettingsStatus: AnyJson,
    sequenceNum: Type.Integer(),
    connectedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    disconnectedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  }),
]);

export const ListAgentsQuery = Type.Object(
  {
    connected: Type.Optional(Type.Boolean()),
    capability: Type.Optional(
      Type.Union(
        [
          Type.String({ pattern: '^[A-Za-z]{1,64}$' }),
          Type.Array(Type.String({ pattern: '^[A-Za-z]{1,64}$' }), { maxItems: 20 }),
        ],
        {
          description: 'AgentCapabilities flag name, e.g. AcceptsRemoteConfig; repeat for several',
        },
      ),
    ),
    attribute: Type.Optional(
      Type.Union(
        [
          Type.String({ pattern: '^[^=]{1,256}=.{0,1024}$' }),
          Type.Array(Type.String({ pattern: '^[^=]{1,256}=.{0,1024}$' }), { maxItems: 20 }),
        ],
        {
          description: 'key=value on the agent description; repeat for several',
        },
      ),
    ),
    cursor: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' })),
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  },
  { additionalProperties: false },
);

export const AgentList = Type.Object({
  items: Type.Array(AgentSummary),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});
