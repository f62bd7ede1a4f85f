import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectCertificate, parseAndVerifyCsr, type DerOrPem } from '@ampora/pki';
import { createTestDatabase, type TestDatabase } from '../../../../../test/support/database.js';
import { testPki } from './pki-test-support.js';

let t: TestDatabase;
let dir: string;
let csrPem: string;
let pki: ReturnType<typeof testPki>['pki'];
beforeAll(async () => {
  t = await createTestDatabase();
  pki = testPki({ db: t.db }).pki;
  dir = mkdtempSync(join(tmpdir(), 'ampora-csr-'));
  execFileSync('/usr/bin/openssl', [
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    join(dir, 'agent.key'),
    '-out',
    join(dir, 'agent.csr'),
    '-subj',
    '/CN=0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
  ]);
  csrPem = readFileSync(join(dir, 'agent.csr'), 'utf8');
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await t?.close();
});

/** The CSR path of enrollment without the protocol around it: verify, then issue for its key. */
async function verifyAndIssue(csrInput: DerOrPem) {
  const csr = parseAndVerifyCsr(csrInput);
  return pki.service.signAgentCertificate({
    tenantId: t.defaultTenantId,
    agentId: 'a1',
    publicKeySpkiDer: csr.publicKeySpkiDer,
    keyAlgorithm: csr.keyAlgorithm,
    commonName: csr.instanceUid ?? 'a1',
  });
}

describe('issuance for a verified CSR', () => {
  it('N-18, N-19: verifies a CSR and issues for its key', async () => {
    const cert = await verifyAndIssue(csrPem);
    const csrKey = execFileSync('/usr/bin/openssl', [
      'req',
      '-in',
      join(dir, 'agent.csr'),
      '-noout',
      '-pubkey',
    ]);
    const certKey = inspectCertificate(cert.certDer).publicKeySpkiDer.toString('base64');
    expect(csrKey.toString().replace(/-----[^-]+-----|\s/g, '')).toBe(certKey);
    expect(inspectCertificate(cert.certDer).subject).toBe('CN=0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b');
  });

  it('N-18: refuses a CSR whose signature does not verify', async () => {
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der.writeUInt8(der.readUInt8(der.length - 5) ^ 0xff, der.length - 5);
    await expect(verifyAndIssue(der)).rejects.toMatchObject({
      code: expect.stringMatching(/bad_signature|malformed/),
    });
  });
});
