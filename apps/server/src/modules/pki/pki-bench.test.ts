import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectCertificate } from '@ampora/pki';
import { createTestDatabase, type TestDatabase } from '../../../../../test/support/database.js';
import { measureCsrIssuance, verifyCsrAndIssue } from './pki-bench.js';
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

describe('CSR issuance benchmark hook', () => {
  it('N-18, N-19: verifies a CSR and issues for its key', async () => {
    const cert = await verifyCsrAndIssue(pki.service, {
      tenantId: t.defaultTenantId,
      agentId: 'a1',
      csr: csrPem,
    });
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
    await expect(
      verifyCsrAndIssue(pki.service, { tenantId: t.defaultTenantId, agentId: 'a1', csr: der }),
    ).rejects.toMatchObject({ code: expect.stringMatching(/bad_signature|malformed/) });
  });

  it('measures a batch and reports its size', async () => {
    const requests = Array.from({ length: 6 }, (_, i) => ({
      tenantId: t.defaultTenantId,
      agentId: `a${i}`,
      csr: csrPem,
    }));
    let tick = 0;
    const result = await measureCsrIssuance(pki.service, requests, {
      concurrency: 3,
      now: () => (tick += 500),
    });
    expect(result.count).toBe(6);
    expect(result.seconds).toBe(0.5);
    expect(result.perSecond).toBe(12);
  });
});
