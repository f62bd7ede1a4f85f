import Type from 'typebox';

const Id = Type.String({ format: 'uuid' });
const Label = Type.String({ minLength: 1, maxLength: 200 });
const Group = Type.String({ minLength: 1, maxLength: 200 });
const Ttl = Type.Integer({
  minimum: 900,
  maximum: 604_800,
  description: 'Lifetime in seconds, 15 min to 168 h (default 24 h)',
});
const Time = Type.String({ format: 'date-time' });

export const CreateTokenBody = Type.Object(
  {
    label: Label,
    ttlSeconds: Type.Optional(Ttl),
    group: Type.Optional(Type.String({ ...Group, description: 'Group the agent lands in on first connect' })),
  },
  { additionalProperties: false },
);

export const TokenView = Type.Object({
  id: Id,
  label: Type.String(),
  group: Type.Union([Type.String(), Type.Null()]),
  poolId: Type.Union([Id, Type.Null()]),
  createdBy: Type.String(),
  createdAt: Time,
  expiresAt: Time,
  expired: Type.Boolean(),
});

export const IssuedToken = Type.Intersect([
  TokenView,
  Type.Object({
    token: Type.String({ description: 'amp-bs.<base32>.<crc>; shown once, never stored or shown again' }),
  }),
]);

export const TokenList = Type.Object({
  items: Type.Array(TokenView),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

export const ListTokensQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
    cursor: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,200}$' })),
  },
  { additionalProperties: false },
);

export const CreatePoolBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, pattern: '^[^\\s].*$' }),
    tokenTtlSeconds: Type.Optional(Ttl),
    defaultGroup: Type.Optional(Group),
  },
  { additionalProperties: false },
);

export const PoolView = Type.Object({
  id: Id,
  name: Type.String(),
  tokenTtlSeconds: Type.Integer(),
  defaultGroup: Type.Union([Type.String(), Type.Null()]),
  createdBy: Type.String(),
  createdAt: Time,
  secretRotatedAt: Type.Union([Time, Type.Null()], { description: 'When the admin secret was last rotated' }),
});

export const CreatedPool = Type.Intersect([
  PoolView,
  Type.Object({
    adminSecret: Type.String({
      description: 'Send as X-Ampora-Pool-Secret to mint tokens; shown once, stored only as a hash',
    }),
  }),
]);

export const PoolList = Type.Object({ items: Type.Array(PoolView) });

export const RotateSecretBody = Type.Object(
  {
    graceSeconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 3600,
        default: 0,
        description: 'Seconds the replaced secret keeps minting, so automation can switch over (default 0)',
      }),
    ),
  },
  { additionalProperties: false },
);

export const RotatedPool = Type.Intersect([
  PoolView,
  Type.Object({
    adminSecret: Type.String({
      description: 'The new admin secret; shown once, stored only as a hash',
    }),
    previousSecretValidUntil: Type.Union([Time, Type.Null()], {
      description: 'Until when the replaced secret still mints; null when it stopped at once',
    }),
  }),
]);

export const MintTokenBody = Type.Object({ label: Type.Optional(Label) }, { additionalProperties: false });

export const IdParams = Type.Object({ id: Id });
/** The pool id of the automation endpoint is checked by the handler, so a bad one answers 401 like a bad secret. */
export const PoolIdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
