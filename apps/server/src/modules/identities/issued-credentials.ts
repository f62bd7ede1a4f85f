import type { ConnectionSettingsOffers } from '@ampora/opamp';
import type { Admitted } from '../../gateway/agent-principal.js';
import { opampOffer } from '../../gateway/connection-offers.js';
import type { AuditContext } from '../audit/audit-recorder.js';
import type { SignedCertificate } from '../pki/pki-types.js';

/** What every certificate offer carries besides the certificate. */
export interface CertificateOfferDeps {
  /** The OpAMP URL agents should use, per transport (never empty). */
  endpoint: (transport: 'websocket' | 'http') => string;
  heartbeatIntervalSeconds: number;
  /** The current trust bundle (agents' CA certificates); undefined until first loaded. */
  trustBundle: () => string | undefined;
  /** CA certificates that verify the listener, offered to agents when known. */
  serverCaPem: () => string | undefined;
}

/** The audit context of an agent acting on its own behalf. */
export function agentContext(admitted: Admitted, actor: { id: string; name: string }): AuditContext {
  return {
    tenantId: admitted.tenantId,
    actor: { kind: 'agent', ...actor },
    sourceIp: admitted.remoteAddress || null,
    userAgent: admitted.userAgent,
    requestId: null,
  };
}

/** An issued certificate as an offer in OpAMP connection settings. */
export function certificateOffer(
  deps: CertificateOfferDeps,
  transport: 'websocket' | 'http',
  cert: SignedCertificate,
  privateKeyPem: string | undefined,
): ConnectionSettingsOffers {
  return opampOffer({
    destinationEndpoint: deps.endpoint(transport),
    heartbeatIntervalSeconds: deps.heartbeatIntervalSeconds,
    certificate: { certPem: cert.certPem, privateKeyPem, caPem: deps.trustBundle() ?? cert.chainPem },
    serverCaPem: deps.serverCaPem(),
  });
}

/** The `agent_credentials` row of an issued certificate. */
export function credentialRow(
  tenantId: string,
  agentId: string,
  cert: SignedCertificate,
  state: 'current' | 'pending',
  origin: 'csr' | 'server',
  now: Date,
) {
  return {
    tenant_id: tenantId,
    fingerprint: cert.fingerprint,
    agent_id: agentId,
    serial_hex: cert.serialHex,
    state,
    key_origin: origin,
    not_before: cert.notBefore,
    not_after: cert.notAfter,
    issued_at: now,
    activated_at: state === 'current' ? now : null,
  };
}
