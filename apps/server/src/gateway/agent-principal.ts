import type { ConnectionSettingsOffers, ConnectionSettingsStatus, ValidAgentToServer } from '@ampora/opamp';

/** An enrolled agent, as proven by the client certificate it presented. */
export interface AgentIdentity {
  tenantId: string;
  /** Also the id of the agent's `agents` row and the agent named in its certificate's SAN URI. */
  agentId: string;
  /** SHA-256 of the presented certificate's DER, lowercase hex. */
  fingerprint: string;
  /** The instance_uid bound to this identity at enrollment (hex); every message must carry it. */
  instanceUidHex: string;
  /** PEM of the presented certificate, re-offered unchanged with every OpAMP settings offer. */
  certPem: string;
  keyOrigin: 'csr' | 'server';
  notBefore: Date;
  notAfter: Date;
  /** When the server starts offering a new certificate (a fraction of the lifetime, with jitter). */
  renewAt: Date;
}

/** What admission proved about a connection or poll. */
export type AdmittedAgent =
  /** No credentials, admitted because mutual TLS is not required (local development only). */
  | { kind: 'anonymous' }
  /** A client certificate that maps to an enrolled, unrevoked identity. */
  | { kind: 'certificate'; identity: AgentIdentity }
  /** A bootstrap token that exists and has not expired; good for enrollment and nothing else. */
  | { kind: 'bootstrap'; tokenHash: string; tokenId: string };

export interface Admitted {
  tenantId: string;
  agent: AdmittedAgent;
  transport: 'websocket' | 'http';
  remoteAddress: string;
  userAgent: string | null;
}

export type TrustResult<T> = { ok: true; value: T } | { ok: false; message: string };

export interface Enrolled {
  identity: AgentIdentity;
  /** The connection-settings offer carrying the new certificate (and key, when server-generated). */
  offer: ConnectionSettingsOffers;
}

/**
 * What the hub asks of the trust layer (enrollment, identities, PKI). Absent, every agent is
 * treated as anonymous. Signing and database work happen here, never inside the hub.
 */
export interface AgentTrust {
  /**
   * Redeems the bootstrap token of an enrollment session with its first message: verifies the CSR
   * (or generates a key), signs, then deletes the token and creates the identity in one transaction.
   * `boundUid` is the uid the identity is bound to (the message's, or one assigned in this reply).
   */
  enroll(
    admitted: Admitted & { agent: { kind: 'bootstrap' } },
    msg: ValidAgentToServer,
    boundUid: Uint8Array,
  ): Promise<TrustResult<Enrolled>>;
  /** A CSR sent on an mTLS session (renewal, or a new key): verify, sign, record as pending. */
  renewWithCsr(
    admitted: Admitted,
    identity: AgentIdentity,
    msg: ValidAgentToServer,
  ): Promise<TrustResult<ConnectionSettingsOffers>>;
  /** Server-initiated renewal: a new key for server-keyed agents, the same key re-certified for CSR agents. */
  renew(admitted: Admitted, identity: AgentIdentity): Promise<ConnectionSettingsOffers | undefined>;
  /** The certificate section every OpAMP settings offer to this identity must carry (N-8). */
  currentCertificate(identity: AgentIdentity): { certPem: string; caPem: string } | undefined;
  /** CA certificates agents need to keep verifying the server, when the server offers them. */
  serverCaPem(): string | undefined;
  /** True when an enrolled identity holds this uid; anonymous agents may not use it. */
  isBoundUid(tenantId: string, uidHex: string): Promise<boolean>;
  /** Audit and count a message that claimed another agent's uid. */
  impersonationRefused(admitted: Admitted, claimedUidHex: string, boundUidHex: string | null): void;
  /** The agent reported the outcome of a connection-settings offer. */
  settingsStatus(admitted: Admitted, identity: AgentIdentity, status: ConnectionSettingsStatus): void;
}
