import { createHash } from 'node:crypto';
import { ConnectionSettingsOffersSchema, create, type ConnectionSettingsOffers } from '@ampora/opamp';

export interface OpampOfferInput {
  /** The wss/https (or ws/http) URL of this server; never empty (N-9). */
  destinationEndpoint: string;
  heartbeatIntervalSeconds: number;
  /**
   * The client certificate the agent must use from now on. Absent only for agents that connect
   * without one: an opamp offer without a certificate tells the agent to stop using its own.
   */
  certificate?: {
    certPem: string;
    /** Only for a server-generated key; in the CSR flow the agent keeps its own key. */
    privateKeyPem?: string;
    /** The CA certificates that issued `certPem` (the trust bundle). */
    caPem: string;
  };
  /** CA certificates that verify the server, for agents that trust no system pool for it. */
  serverCaPem?: string;
}

/**
 * Builds an OpAMP connection-settings offer. The hash covers every setting, the certificate
 * included, so it changes whenever any of them changes (clients skip a hash they have seen) and
 * stays the same when nothing did. The private key is left out of the hash input: the certificate
 * already pins the key.
 */
export function opampOffer(input: OpampOfferInput): ConnectionSettingsOffers {
  const interval = BigInt(input.heartbeatIntervalSeconds);
  const hash = createHash('sha256')
    .update(`opamp\0${input.destinationEndpoint}\0${interval}\0`)
    .update(input.certificate ? `${input.certificate.certPem}\0${input.certificate.caPem}` : '-')
    .update(`\0${input.serverCaPem ?? '-'}`)
    .digest();
  const cert = input.certificate;
  return create(ConnectionSettingsOffersSchema, {
    hash,
    opamp: {
      destinationEndpoint: input.destinationEndpoint,
      heartbeatIntervalSeconds: interval,
      ...(cert
        ? {
            certificate: {
              cert: Buffer.from(cert.certPem),
              privateKey: cert.privateKeyPem ? Buffer.from(cert.privateKeyPem) : new Uint8Array(0),
              caCert: Buffer.from(cert.caPem),
            },
          }
        : {}),
      ...(input.serverCaPem ? { tls: { caPemContents: input.serverCaPem } } : {}),
    },
  });
}
