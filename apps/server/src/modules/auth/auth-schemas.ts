import Type from 'typebox';

export const RoleName = Type.Union([Type.Literal('viewer'), Type.Literal('operator'), Type.Literal('admin')]);
export const UserId = Type.String({ format: 'uuid', description: 'Server-assigned user id' });
export const PatId = Type.String({ format: 'uuid', description: 'Server-assigned token id' });
const Time = Type.String({ format: 'date-time' });
const NullableTime = Type.Union([Time, Type.Null()]);

export const LoginQuery = Type.Object(
  {
    /** A path on this server to land on after sign-in; anything else is ignored (no open redirect). */
    returnTo: Type.Optional(Type.String({ maxLength: 2048 })),
  },
  { additionalProperties: false },
);

export const CallbackQuery = Type.Object(
  {
    code: Type.Optional(Type.String({ maxLength: 4096 })),
    state: Type.Optional(Type.String({ maxLength: 1024 })),
    iss: Type.Optional(Type.String({ maxLength: 2048 })),
    error: Type.Optional(Type.String({ maxLength: 256 })),
    error_description: Type.Optional(Type.String({ maxLength: 2048 })),
    session_state: Type.Optional(Type.String({ maxLength: 1024 })),
  },
  { additionalProperties: true },
);

export const LogoutResponse = Type.Object({
  /** Where the browser should go to end the session at the identity provider too, when it supports that. */
  redirectTo: Type.Union([Type.String(), Type.Null()]),
});

export const Me = Type.Object({
  kind: Type.Union([Type.Literal('user'), Type.Literal('pat'), Type.Literal('system')]),
  id: Type.String(),
  name: Type.String(),
  tenantId: Type.String({ format: 'uuid' }),
  role: RoleName,
  via: Type.String(),
  /** Present for session callers: echo it in the X-CSRF-Token header of mutating requests. */
  csrfToken: Type.Optional(Type.String()),
  allowedEndpoints: Type.Optional(Type.Array(Type.String())),
});

export const User = Type.Object({
  id: UserId,
  sub: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  email: Type.Union([Type.String(), Type.Null()]),
  role: RoleName,
  roleSource: Type.Union([Type.Literal('idp'), Type.Literal('manual'), Type.Literal('first-user')]),
  createdAt: Time,
  lastLoginAt: NullableTime,
});

export const UserList = Type.Object({ items: Type.Array(User) });

export const SetRoleBody = Type.Object({ role: RoleName }, { additionalProperties: false });

export const RoleMapping = Type.Object(
  {
    group: Type.String({ minLength: 1, maxLength: 255 }),
    role: RoleName,
  },
  { additionalProperties: false },
);

export const RoleMappings = Type.Object(
  { mappings: Type.Array(RoleMapping, { maxItems: 500 }) },
  { additionalProperties: false },
);

export const Pat = Type.Object({
  id: PatId,
  name: Type.String(),
  role: RoleName,
  allowedEndpoints: Type.Union([Type.Array(Type.String()), Type.Null()]),
  createdBy: Type.String(),
  createdAt: Time,
  expiresAt: NullableTime,
  revokedAt: NullableTime,
  lastUsedAt: NullableTime,
});

export const PatList = Type.Object({ items: Type.Array(Pat) });

export const CreatePatBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, pattern: '^[^\\u0000-\\u001f]+$' }),
    role: RoleName,
    allowedEndpoints: Type.Optional(
      Type.Array(Type.String({ minLength: 3, maxLength: 512 }), {
        maxItems: 50,
        description: '`METHOD /path` patterns, `*` matching any run of characters, e.g. `GET /api/agents*`',
      }),
    ),
    expiresAt: Type.Optional(Time),
  },
  { additionalProperties: false },
);

export const CreatedPat = Type.Intersect([
  Pat,
  Type.Object({ token: Type.String({ description: 'The token itself. Shown once, never again.' }) }),
]);
