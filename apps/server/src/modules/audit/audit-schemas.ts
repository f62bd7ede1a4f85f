import Type from 'typebox';
import { AUDIT_ACTOR_KINDS, AUDIT_OUTCOMES } from '@ampora/audit';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const ListAuditEventsQuery = Type.Object(
  {
    actor: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: 'Actor id or actor name, exact' }),
    ),
    actorKind: Type.Optional(Type.Union(AUDIT_ACTOR_KINDS.map((k) => Type.Literal(k)))),
    entityType: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    entityId: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    action: Type.Optional(
      Type.String({
        pattern: '^[a-z0-9][a-z0-9_.:-]{0,199}$|^[a-z0-9][a-z0-9_.:-]{0,197}\\.\\*$',
        description: 'Exact action (`pki.certificate.revoke`) or a prefix ending in `.*` (`pki.*`)',
      }),
    ),
    outcome: Type.Optional(Type.Union(AUDIT_OUTCOMES.map((o) => Type.Literal(o)))),
    from: Type.Optional(Type.String({ format: 'date-time', description: 'Events at or after this time' })),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'Events before this time' })),
    includeArchive: Type.Boolean({
      default: false,
      description: 'Also search archived events. Admin only; the search itself is audited.',
    }),
    cursor: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' })),
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  },
  { additionalProperties: false },
);

export const AuditEventItem = Type.Object({
  id: Type.String({ format: 'uuid' }),
  seq: Type.Integer({ description: "Position in the tenant's hash chain" }),
  time: Type.String({ format: 'date-time' }),
  actor: Type.Object({ kind: Type.String(), id: Type.String(), name: Type.String() }),
  action: Type.String(),
  entity: Type.Object({ type: Type.String(), id: Nullable(Type.String()) }),
  before: Type.Unknown(),
  after: Type.Unknown(),
  outcome: Type.String(),
  sourceIp: Nullable(Type.String()),
  userAgent: Nullable(Type.String()),
  requestId: Nullable(Type.String()),
  prevHash: Type.String(),
  hash: Type.String(),
  archived: Type.Boolean({ description: 'True for an event read from the archive tier' }),
});

export const AuditEventList = Type.Object({
  items: Type.Array(AuditEventItem),
  nextCursor: Nullable(Type.String()),
});

export const AuditVerifyResult = Type.Object({
  ok: Type.Boolean(),
  tenantId: Type.String({ format: 'uuid' }),
  /** Events checked and found sound (before the problem, when there is one). */
  count: Type.Integer(),
  firstBadSeq: Type.Optional(Type.Integer()),
  problem: Type.Optional(Type.String()),
});
