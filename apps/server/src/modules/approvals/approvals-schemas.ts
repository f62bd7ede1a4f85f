import Type from 'typebox';

const DateTime = Type.String({ format: 'date-time' });

export const ApprovalId = Type.String({ format: 'uuid', description: 'Approval request id (UUIDv7)' });

export const ApprovalStatus = Type.Union(
  [
    Type.Literal('pending'),
    Type.Literal('approved'),
    Type.Literal('rejected'),
    Type.Literal('cancelled'),
    Type.Literal('expired'),
  ],
  {
    description:
      'pending until a second Admin approves or rejects it, or the requester cancels it; expired when none of that happened before expiresAt',
  },
);

const Actor = Type.Object({
  kind: Type.String({ description: 'user, pat or system' }),
  id: Type.String({ description: 'The user subject, or the PAT id' }),
  name: Type.String(),
});

export const ApprovalRequest = Type.Object({
  id: ApprovalId,
  kind: Type.String({ description: 'What is asked for, e.g. pki.signing-key.activate' }),
  entity: Type.Object({
    type: Type.String({ description: 'e.g. signing-key' }),
    id: Type.String(),
  }),
  status: ApprovalStatus,
  summary: Type.Record(Type.String(), Type.Unknown(), {
    description: 'What is being approved, as recorded with the request (for a signing key: its certificate)',
  }),
  requestedBy: Actor,
  requestedAt: DateTime,
  expiresAt: Type.String({
    format: 'date-time',
    description:
      'From then on the request can no longer be approved, rejected or cancelled (409 approval-expired); the owner asks again',
  }),
  decidedBy: Type.Union([Actor, Type.Null()], { description: 'Who approved, rejected or cancelled' }),
  decidedAt: Type.Union([DateTime, Type.Null()]),
  reason: Type.Union([Type.String(), Type.Null()], { description: 'The reason given with a rejection' }),
});

export const ApprovalList = Type.Object({
  items: Type.Array(ApprovalRequest),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

export const ListApprovalsQuery = Type.Object(
  {
    status: Type.Optional(ApprovalStatus),
    kind: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9-]*(\\.[a-z][a-z0-9-]*)+$', maxLength: 100 })),
    cursor: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,200}$' })),
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  },
  { additionalProperties: false },
);

export const ApprovalParams = Type.Object({ id: ApprovalId });

export const RejectBody = Type.Object(
  {
    reason: Type.String({
      minLength: 1,
      maxLength: 2000,
      pattern: '\\S',
      description: 'Why the change is rejected; the requester sees it',
    }),
  },
  { additionalProperties: false },
);
