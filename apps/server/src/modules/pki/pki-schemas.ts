import Type from 'typebox';
import { REVOCATION_REASONS } from '@ampora/pki';
import { ApprovalRequest } from '../approvals/approvals-schemas.js';

const DateTime = Type.String({ format: 'date-time' });
const NullableDateTime = Type.Union([DateTime, Type.Null()]);
const NullableString = Type.Union([Type.String(), Type.Null()]);

export const SigningKeyId = Type.String({ format: 'uuid', description: 'Signing key id (UUIDv7)' });
export const CertificateId = Type.String({ format: 'uuid', description: 'Certificate id (UUIDv7)' });

export const SigningKey = Type.Object({
  id: SigningKeyId,
  state: Type.Union([
    Type.Literal('draft'),
    Type.Literal('active'),
    Type.Literal('trusted'),
    Type.Literal('retired'),
  ]),
  algorithm: Type.String({ description: 'Signature algorithm, e.g. ecdsa-sha256' }),
  keySpec: Type.String({ description: 'Key type and size, e.g. ecdsa-p256 or rsa-3072' }),
  provider: Type.String({ description: 'Crypto provider holding the key, e.g. software' }),
  source: Type.Union([Type.Literal('generated'), Type.Literal('imported')]),
  subject: NullableString,
  fingerprint: Type.Union([Type.String({ description: 'SHA-256 of the CA certificate, hex' }), Type.Null()]),
  notBefore: NullableDateTime,
  notAfter: NullableDateTime,
  createdAt: DateTime,
  activatedAt: NullableDateTime,
  trustedUntil: Type.Union([DateTime, Type.Null()], {
    description: 'While Trusted: when the key leaves the trust bundle',
  }),
  retiredAt: NullableDateTime,
  certPem: Type.Union([Type.String({ description: 'CA certificate, then any chain above it' }), Type.Null()]),
});

export const SigningKeyList = Type.Object({ items: Type.Array(SigningKey) });

export const ProposedSigningKey = Type.Object({
  key: SigningKey,
  approval: ApprovalRequest,
});

export const RotateBody = Type.Object(
  {
    keyAlgorithm: Type.Optional(
      Type.Union([Type.Literal('ecdsa-p256'), Type.Literal('rsa-3072')], {
        description: 'Key type of the new key; the configured AMPORA_CA_KEY_ALGORITHM when omitted',
      }),
    ),
  },
  { additionalProperties: false },
);

const MAX_PEM = 200_000;

export const ImportBody = Type.Union([
  Type.Object(
    {
      certPem: Type.String({
        minLength: 1,
        maxLength: MAX_PEM,
        description: 'The CA certificate and, optionally, the certificates above it',
      }),
      keyPem: Type.String({
        minLength: 1,
        maxLength: MAX_PEM,
        description: 'PKCS#8, PKCS#1 or SEC1 private key (secret: never logged or audited)',
      }),
      keyPassphrase: Type.Optional(
        Type.String({ maxLength: 1024, description: 'For an encrypted PKCS#8 key' }),
      ),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      pkcs12: Type.String({
        minLength: 1,
        maxLength: MAX_PEM,
        pattern: '^[A-Za-z0-9+/=\\s]+$',
        description: 'Base64 of a PKCS#12 (.p12/.pfx) file holding the CA key and chain',
      }),
      password: Type.String({ maxLength: 1024 }),
    },
    { additionalProperties: false },
  ),
]);

export const RevocationReason = Type.Union(
  REVOCATION_REASONS.map((r) => Type.Literal(r)),
  { description: 'RFC 5280 CRLReason name', default: 'unspecified' },
);

export const RevokeBody = Type.Object(
  { reason: Type.Optional(RevocationReason) },
  { additionalProperties: false },
);

export const BulkRevokeBody = Type.Object(
  {
    ids: Type.Array(CertificateId, { minItems: 1, maxItems: 1000, uniqueItems: true }),
    reason: Type.Optional(RevocationReason),
  },
  { additionalProperties: false },
);

export const BulkRevokeResult = Type.Object({
  revoked: Type.Array(CertificateId),
  alreadyRevoked: Type.Array(CertificateId),
  notFound: Type.Array(CertificateId, { description: 'Unknown ids, and ids of other tenants' }),
});

const CertificateKind = Type.Union([
  Type.Literal('agent'),
  Type.Literal('ocsp-responder'),
  Type.Literal('server-tls'),
]);
const CertificateStatus = Type.Union([
  Type.Literal('active'),
  Type.Literal('revoked'),
  Type.Literal('expired'),
]);

export const Certificate = Type.Object({
  id: CertificateId,
  serialHex: Type.String(),
  fingerprint: Type.String({ description: 'SHA-256 of the certificate DER, hex: the agent identity' }),
  kind: CertificateKind,
  agentId: NullableString,
  subject: Type.String(),
  signingKeyId: SigningKeyId,
  notBefore: DateTime,
  notAfter: DateTime,
  status: CertificateStatus,
  revokedAt: NullableDateTime,
  revocationReason: NullableString,
  createdAt: DateTime,
});

export const ListCertificatesQuery = Type.Object(
  {
    kind: Type.Optional(CertificateKind),
    status: Type.Optional(CertificateStatus),
    agentId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' })),
    cursor: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' })),
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  },
  { additionalProperties: false },
);

export const CertificateList = Type.Object({
  items: Type.Array(Certificate),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});
