import { subjectAltNameUris } from './certificate.js';
import type { DerOrPem } from './encoding.js';
import { PkiError } from './errors.js';

export interface AgentIdentity {
  readonly tenantId: string;
  readonly agentId: string;
}

const URI_PREFIX = 'urn:ampora:tenant:';
/** No colons, so the URN splits one way only; UUIDs and slugs fit. */
const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const IDENTITY_URI = /^urn:ampora:tenant:([^:]+):agent:([^:]+)$/;

/** The SAN URI that names an agent: `urn:ampora:tenant:<tenantId>:agent:<agentId>`. */
export function agentIdentityUri(tenantId: string, agentId: string): string {
  if (!ID.test(tenantId)) throw new PkiError('invalid_argument', 'tenantId is not a valid identifier');
  if (!ID.test(agentId)) throw new PkiError('invalid_argument', 'agentId is not a valid identifier');
  return `${URI_PREFIX}${tenantId}:agent:${agentId}`;
}

export function parseAgentIdentityUri(uri: string): AgentIdentity | null {
  const match = IDENTITY_URI.exec(uri);
  if (!match || !ID.test(match[1]!) || !ID.test(match[2]!)) return null;
  return { tenantId: match[1]!, agentId: match[2]! };
}

/**
 * The agent identity a certificate carries, or null if it carries none. Two identity
 * URIs make the certificate ambiguous, which we never issue, so that is an error.
 */
export function parseAgentIdentity(cert: DerOrPem): AgentIdentity | null {
  const identities = subjectAltNameUris(cert)
    .map(parseAgentIdentityUri)
    .filter((identity): identity is AgentIdentity => identity !== null);
  if (identities.length > 1)
    throw new PkiError('malformed', 'certificate carries more than one agent identity');
  return identities[0] ?? null;
}
