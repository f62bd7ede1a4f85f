import { describe, expect, it } from 'vitest';
import { opampOffer } from './connection-offers.js';

const base = { destinationEndpoint: 'wss://ampora.example:4320/v1/opamp', heartbeatIntervalSeconds: 30 };
const cert = { certPem: 'CERT-A', caPem: 'CA' };

describe('OpAMP connection-settings offers', () => {
  it('N-9, N-25: always names the endpoint and states the heartbeat interval', () => {
    const offer = opampOffer(base);
    expect(offer.opamp?.destinationEndpoint).toBe(base.destinationEndpoint);
    expect(offer.opamp?.heartbeatIntervalSeconds).toBe(30n);
    expect(offer.hash.length).toBe(32);
  });

  it('N-4: the hash is stable for the same settings and changes with any of them, the certificate included', () => {
    const a = Buffer.from(opampOffer({ ...base, certificate: cert }).hash).toString('hex');
    expect(Buffer.from(opampOffer({ ...base, certificate: cert }).hash).toString('hex')).toBe(a);
    const variants = [
      opampOffer({ ...base, certificate: { ...cert, certPem: 'CERT-B' } }),
      opampOffer({ ...base, certificate: cert, heartbeatIntervalSeconds: 60 }),
      opampOffer({ ...base, certificate: cert, destinationEndpoint: 'wss://other/v1/opamp' }),
      opampOffer({ ...base, certificate: cert, serverCaPem: 'SERVER-CA' }),
      opampOffer(base),
    ];
    for (const v of variants) expect(Buffer.from(v.hash).toString('hex')).not.toBe(a);
  });

  it('carries the private key only when the server made it, and no certificate section without a certificate', () => {
    expect(opampOffer(base).opamp?.certificate).toBeUndefined();
    const csrFlow = opampOffer({ ...base, certificate: cert });
    expect(csrFlow.opamp?.certificate?.privateKey.length).toBe(0);
    expect(Buffer.from(csrFlow.opamp!.certificate!.caCert).toString()).toBe('CA');
    const serverKey = opampOffer({ ...base, certificate: { ...cert, privateKeyPem: 'KEY' } });
    expect(Buffer.from(serverKey.opamp!.certificate!.privateKey).toString()).toBe('KEY');
    expect(opampOffer({ ...base, serverCaPem: 'S' }).opamp?.tls?.caPemContents).toBe('S');
    expect(opampOffer(base).opamp?.tls).toBeUndefined();
  });
});
