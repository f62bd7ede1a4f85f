import { describe, expect, it } from 'vitest';
import { parseAndVerifyCsr } from '@ampora/pki';
import { createUuidV7Source, uuidToString } from '@ampora/opamp';
import { createCsr, generateAgentKey } from './agent-credentials';

const newUid = createUuidV7Source({
  now: Date.now,
  randomBytes: (n) => crypto.getRandomValues(new Uint8Array(n)),
});

describe('simulated agent credentials', () => {
  it.each(['ec', 'rsa'] as const)('makes a %s CSR that verifies and names the agent uid', async (type) => {
    const uid = newUid();
    const key = await generateAgentKey(type);
    const csr = parseAndVerifyCsr(await createCsr(uid, key));
    expect(csr.instanceUid).toBe(uuidToString(uid));
    expect(csr.publicKeySpkiDer.equals(key.publicKeySpkiDer)).toBe(true);
    expect(key.privateKeyPem).toMatch(/BEGIN PRIVATE KEY/);
  });

  it('can claim another uid (fault injection), and a tampered CSR no longer verifies', async () => {
    const key = await generateAgentKey('ec');
    const other = uuidToString(newUid());
    const pem = await createCsr(newUid(), key, { claimUid: other });
    expect(parseAndVerifyCsr(pem).instanceUid).toBe(other);
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[20] = der[20]! ^ 0x01;
    expect(() => parseAndVerifyCsr(der)).toThrow();
  });
});
