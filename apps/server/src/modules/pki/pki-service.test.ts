import { generateKeyPairSync } from 'node:crypto';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeyProtectorError, SOFTWARE_SIGNING_KEY_AAD } from '@ampora/keys';
import { withTenant } from '@ampora/db';
import { inspectCertificate, ocspErrorResponse } from '@ampora/pki';
import { createTestDatabase, type TestDatabase } from '../../../../../test/support/database.js';
import { HttpProblem } from '../../http/problem.js';
import { commonNameDn } from './certificates-service.js';
import { keyRefAad } from './signing-keys-service.js';
import { actorOf, adminContext, createTenant, testKeys, testPki } from './pki-test-support.js';
import type { Pki } from './pki-service.js';

const DAY = 86_400_000;
let t: TestDatabase;

beforeEach(async () => {
  t = await createTestDatabase();
});
afterEach(() => t?.close());

function agentKey() {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
}

async function issueAgent(pki: Pki, tenantId: string, agentId: string) {
  const cert = await pki.service.signAgentCertificate({
    tenantId,
    agentId,
    publicKeySpkiDer: agentKey(),
    commonName: agentId,
  });
  const id = await withTenant(t.db, tenantId, (tx) =>
    pki.recordCertificate(tx, cert, { tenantId, agentId, kind: 'agent' }),
  );
  return { ...cert, id };
}

async function auditActions(tenantId: string): Promise<string[]> {
  const rows = await t.owner
    .selectFrom('audit_events')
    .select('action')
    .where('tenant_id', '=', tenantId)
    .orderBy('seq')
    .execute();
  return rows.map((r) => r.action);
}

async function expectProblem(promise: Promise<unknown>, status: number) {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HttpProblem);
  expect((err as HttpProblem).status).toBe(status);
}

describe('CA bootstrap and key custody', () => {
  it('creates one Active ECDSA P-256 key with a self-signed CA certificate on first start', async () => {
    const { pki } = testPki({ db: t.db });
    await pki.ready();
    const keys = await pki.listKeys();
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ state: 'active', keySpec: 'ecdsa-p256', source: 'generated' });
    const ca = inspectCertificate(keys[0]!.certPem!);
    expect(ca.isCa).toBe(true);
    expect(ca.subject).toBe(ca.issuer);
    expect(await auditActions(t.defaultTenantId)).toEqual(
      expect.arrayContaining([
        'pki.signing-key.create',
        'pki.signing-key.bootstrap',
        'pki.ocsp-responder.issue',
      ]),
    );
  });

  it('honours AMPORA_CA_KEY_ALGORITHM=rsa-3072', async () => {
    const { pki } = testPki({ db: t.db, env: { AMPORA_CA_KEY_ALGORITHM: 'rsa-3072' } });
    await pki.ready();
    const [key] = await pki.listKeys();
    expect(key).toMatchObject({ keySpec: 'rsa-3072', algorithm: 'rsa-pkcs1-sha256' });
    expect(inspectCertificate(key!.certPem!).keyAlgorithm).toEqual({ type: 'rsa', bits: 3072 });
  });

  it('two replicas starting together create a single CA', async () => {
    const a = testPki({ db: t.db });
    const b = testPki({ db: t.db, keys: a.keys });
    await Promise.all([a.pki.ready(), b.pki.ready()]);
    const rows = await t.owner.selectFrom('ca_signing_keys').select(['id', 'state']).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.state).toBe('active');
    expect(await b.pki.service.trustBundlePem()).toBe(await a.pki.service.trustBundlePem());
  });

  it('stores CA private keys sealed, bound to their row, and unreadable under another master key', async () => {
    const { pki, keys } = testPki({ db: t.db });
    await pki.ready();
    const row = await t.owner.selectFrom('ca_signing_keys').selectAll().executeTakeFirstOrThrow();
    expect(row.key_ref.startsWith('amp:v1:')).toBe(true);

    // The real private key, opened through both layers, never appears in the stored value.
    const inner = await keys.openToString(row.key_ref, keyRefAad(row.id));
    const pkcs8 = await keys.open(inner, SOFTWARE_SIGNING_KEY_AAD);
    expect(pkcs8.length).toBeGreaterThan(100);
    const stored = Buffer.from(row.key_ref);
    for (const form of [pkcs8, Buffer.from(pkcs8.toString('base64')), Buffer.from(pkcs8.toString('hex'))]) {
      expect(stored.includes(form.subarray(0, 32))).toBe(false);
    }
    expect(row.key_ref).not.toMatch(/PRIVATE KEY/);

    // Moved to another row, it does not open; under another master key, it does not open.
    await expect(
      keys.openToString(row.key_ref, keyRefAad('00000000-0000-7000-8000-00000000abcd')),
    ).rejects.toThrow(KeyProtectorError);
    await expect(testKeys().openToString(row.key_ref, keyRefAad(row.id))).rejects.toThrow(KeyProtectorError);

    const responder = await t.owner.selectFrom('ca_ocsp_responders').selectAll().executeTakeFirstOrThrow();
    expect(responder.key_ref.startsWith('amp:v1:')).toBe(true);
  });

  it('a replica with a different master key cannot sign with the CA', async () => {
    const a = testPki({ db: t.db });
    await a.pki.ready();
    const b = testPki({ db: t.db });
    await expect(
      b.pki.service.signAgentCertificate({
        tenantId: t.defaultTenantId,
        agentId: 'a1',
        publicKeySpkiDer: agentKey(),
        commonName: 'a1',
      }),
    ).rejects.toThrow(KeyProtectorError);
  });
});

describe('agent certificates', () => {
  it('carry the identity URI, clientAuth, and the issuing key’s CDP and OCSP URLs', async () => {
    const { pki } = testPki({ db: t.db });
    const cert = await issueAgent(pki, t.defaultTenantId, 'agent-7');
    const info = inspectCertificate(cert.certDer);
    expect(info.sans.uris).toEqual([`urn:ampora:tenant:${t.defaultTenantId}:agent:agent-7`]);
    expect(info.extendedKeyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(info.subject).toBe('CN=agent-7');
    const der = cert.certDer.toString('latin1');
    expect(der).toContain(`http://127.0.0.1:8080/pki/crl/${cert.signingKeyId}.der`);
    expect(der).toContain('http://127.0.0.1:8080/pki/ocsp');
    expect(cert.chainPem).toBe((await pki.listKeys())[0]!.certPem);
    expect(Math.round((info.notAfter.getTime() - Date.now()) / DAY)).toBe(365);
  });

  it('never outlive the CA certificate', async () => {
    const { pki } = testPki({ db: t.db, env: { AMPORA_CA_CA_CERT_LIFETIME_DAYS: '30' } });
    const cert = await issueAgent(pki, t.defaultTenantId, 'a1');
    const [ca] = await pki.listKeys();
    expect(cert.notAfter.getTime()).toBeLessThanOrEqual(Date.parse(ca!.notAfter!));
  });

  it('escape the common name so it cannot add subject attributes', async () => {
    expect(commonNameDn('a,O=Evil')).toBe('CN=a\\,O\\=Evil');
    const { pki } = testPki({ db: t.db });
    const cert = await pki.service.signAgentCertificate({
      tenantId: t.defaultTenantId,
      agentId: 'a1',
      publicKeySpkiDer: agentKey(),
      commonName: 'x, O=Evil+OU=y',
    });
    // One CN holding the whole text (printed with its commas and plus signs escaped).
    expect(inspectCertificate(cert.certDer).subject).toBe('CN=x\\, O=Evil\\+OU=y');
  });

  it('record the subject exactly as the certificate spells it, plain or escaped', async () => {
    const { pki } = testPki({ db: t.db });
    const uid = '0190a5c3-1b2c-7d4e-8f90-123456789abc';
    for (const commonName of [uid, 'host.example-1', 'x, O=Evil+OU=y', ' #lead', 'é']) {
      const cert = await pki.service.signAgentCertificate({
        tenantId: t.defaultTenantId,
        agentId: 'a1',
        publicKeySpkiDer: agentKey(),
        commonName,
      });
      const id = await withTenant(t.db, t.defaultTenantId, (tx) =>
        pki.recordCertificate(tx, cert, { tenantId: t.defaultTenantId, agentId: null, kind: 'agent' }),
      );
      const listed = await pki.listCertificates(t.defaultTenantId, { limit: 100 });
      const row = listed.items.find((c) => c.id === id);
      expect(row?.subject).toBe(inspectCertificate(cert.certDer).subject);
    }
  });

  it('refuse a weak agent key', async () => {
    const { pki } = testPki({ db: t.db });
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({
      format: 'der',
      type: 'spki',
    });
    await expect(
      pki.service.signAgentCertificate({
        tenantId: t.defaultTenantId,
        agentId: 'a1',
        publicKeySpkiDer: weak,
        commonName: 'a1',
      }),
    ).rejects.toMatchObject({ code: 'weak_key' });
  });
});

describe('revocations made by another replica', () => {
  it('are taken in once each: cached status dropped, listeners told; this replica’s own are not repeated', async () => {
    const keys = testKeys();
    const env = { AMPORA_CA_STATUS_CACHE_SECONDS: '300' };
    const a = testPki({ db: t.db, keys, env });
    const b = testPki({ db: t.db, keys, env });
    await a.pki.ready();
    await b.pki.ready();
    expect(await b.pki.followRevocations()).toBe(0); // the first read sets where the feed starts
    const heardByB: Array<{ fingerprint: string }> = [];
    b.pki.service.onRevoked((e) => heardByB.push(e));

    const first = await issueAgent(a.pki, t.defaultTenantId, 'a1');
    const second = await issueAgent(a.pki, t.defaultTenantId, 'a2');
    const own = await issueAgent(b.pki, t.defaultTenantId, 'a3');
    // B has the certificate cached as good for 300 s.
    expect(await b.pki.service.statusByFingerprint(first.fingerprint)).toMatchObject({ status: 'good' });

    await a.pki.revoke(adminContext(t.defaultTenantId), first.id, 'keyCompromise');
    await b.pki.revoke(adminContext(t.defaultTenantId), own.id, 'superseded');
    expect(heardByB.map((e) => e.fingerprint)).toEqual([own.fingerprint]);

    expect(await b.pki.followRevocations()).toBe(1);
    expect(heardByB.map((e) => e.fingerprint)).toEqual([own.fingerprint, first.fingerprint]);
    expect(await b.pki.service.statusByFingerprint(first.fingerprint)).toMatchObject({ status: 'revoked' });
    expect(await b.pki.followRevocations()).toBe(0);

    // A revocation whose time is older than the newest one seen (its replica's clock lagged, or
    // its transaction committed late) is still taken in.
    await t.owner
      .updateTable('certificate_status')
      .set({ status: 'revoked', reason: 'keyCompromise', revoked_at: new Date(Date.now() - 30_000) })
      .where('fingerprint', '=', second.fingerprint)
      .execute();
    expect(await b.pki.followRevocations()).toBe(1);
    expect(heardByB.at(-1)).toEqual({
      tenantId: t.defaultTenantId,
      fingerprint: second.fingerprint,
      serialHex: second.serialHex,
    });
  });
});

describe('revocation', () => {
  it('C-11: status turns revoked at once (the cache is cleared), the CRL lists it, listeners hear of it', async () => {
    const { pki } = testPki({ db: t.db, env: { AMPORA_CA_STATUS_CACHE_SECONDS: '300' } });
    const cert = await issueAgent(pki, t.defaultTenantId, 'a1');
    expect(await pki.service.statusByFingerprint(cert.fingerprint)).toMatchObject({
      status: 'good',
      tenantId: t.defaultTenantId,
    });
    const heard: unknown[] = [];
    pki.service.onRevoked((e) => heard.push(e));
    const before = await pki.crl();

    const view = await pki.revoke(adminContext(t.defaultTenantId), cert.id, 'keyCompromise');
    expect(view).toMatchObject({ status: 'revoked', revocationReason: 'keyCompromise' });
    expect(await pki.service.statusByFingerprint(cert.fingerprint)).toMatchObject({
      status: 'revoked',
      reason: 'keyCompromise',
    });
    expect(heard).toEqual([
      { tenantId: t.defaultTenantId, fingerprint: cert.fingerprint, serialHex: cert.serialHex },
    ]);
    const after = await pki.crl();
    expect(after.number).toBeGreaterThan(before.number);
    expect(after.der.includes(Buffer.from(cert.serialHex, 'hex'))).toBe(true);
    expect(await auditActions(t.defaultTenantId)).toContain('pki.certificate.revoke');

    await expectProblem(pki.revoke(adminContext(t.defaultTenantId), cert.id, 'unspecified'), 409);
  });

  it('C-11: a certificate of another tenant answers 404 and nothing changes', async () => {
    const other = await createTenant(t.owner, 'other');
    const { pki } = testPki({ db: t.db });
    const cert = await issueAgent(pki, other, 'their-agent');
    const crlBefore = await pki.crl();

    await expectProblem(pki.revoke(adminContext(t.defaultTenantId), cert.id, 'keyCompromise'), 404);
    const bulk = await pki.revokeMany(adminContext(t.defaultTenantId), [cert.id], 'keyCompromise');
    expect(bulk).toEqual({ revoked: [], alreadyRevoked: [], notFound: [cert.id] });

    const row = await t.owner
      .selectFrom('certificates')
      .selectAll()
      .where('id', '=', cert.id)
      .executeTakeFirstOrThrow();
    expect(row.status).toBe('active');
    const status = await t.owner
      .selectFrom('certificate_status')
      .selectAll()
      .where('fingerprint', '=', cert.fingerprint)
      .executeTakeFirstOrThrow();
    expect(status.status).toBe('good');
    expect(await pki.service.statusByFingerprint(cert.fingerprint)).toMatchObject({ status: 'good' });
    expect((await pki.crl()).number).toBe(crlBefore.number);
    expect(await auditActions(t.defaultTenantId)).not.toContain('pki.certificate.revoke');
    expect(await auditActions(t.defaultTenantId)).not.toContain('pki.certificate.revoke-bulk');
  });

  it('bulk revocation is one audited action and reports what it did not revoke', async () => {
    const { pki } = testPki({ db: t.db });
    const a = await issueAgent(pki, t.defaultTenantId, 'a');
    const b = await issueAgent(pki, t.defaultTenantId, 'b');
    await pki.revoke(adminContext(t.defaultTenantId), a.id, 'superseded');
    const missing = '01900000-0000-7000-8000-000000000000';
    const result = await pki.revokeMany(
      adminContext(t.defaultTenantId),
      [a.id, b.id, missing],
      'cessationOfOperation',
    );
    expect(result).toEqual({ revoked: [b.id], alreadyRevoked: [a.id], notFound: [missing] });
    const actions = await auditActions(t.defaultTenantId);
    expect(actions.filter((x) => x === 'pki.certificate.revoke-bulk')).toHaveLength(1);
  });

  it('lists certificates with filters and a cursor', async () => {
    const { pki } = testPki({ db: t.db });
    const ids: string[] = [];
    for (const name of ['a', 'b', 'c']) ids.push((await issueAgent(pki, t.defaultTenantId, name)).id);
    await pki.revoke(adminContext(t.defaultTenantId), ids[1]!, 'unspecified');
    const page1 = await pki.listCertificates(t.defaultTenantId, { kind: 'agent', limit: 2 });
    expect(page1.items.map((c) => c.id)).toEqual(ids.slice(0, 2));
    const page2 = await pki.listCertificates(t.defaultTenantId, {
      kind: 'agent',
      limit: 2,
      cursor: page1.nextCursor!,
    });
    expect(page2.items.map((c) => c.id)).toEqual([ids[2]]);
    expect(page2.nextCursor).toBeNull();
    const revoked = await pki.listCertificates(t.defaultTenantId, { status: 'revoked', limit: 10 });
    expect(revoked.items.map((c) => c.id)).toEqual([ids[1]]);
    const byAgent = await pki.listCertificates(t.defaultTenantId, { agentId: 'c', limit: 10 });
    expect(byAgent.items.map((c) => c.id)).toEqual([ids[2]]);
    const other = await createTenant(t.owner, 'other');
    expect((await pki.listCertificates(other, { limit: 10 })).items).toEqual([]);
  });

  it('answers a malformed OCSP request with malformedRequest', async () => {
    const { pki } = testPki({ db: t.db });
    expect(await pki.ocspRespond(Buffer.from('not ocsp'))).toEqual(ocspErrorResponse('malformedRequest'));
    expect(await pki.ocspRespond(Buffer.alloc(0))).toEqual(ocspErrorResponse('malformedRequest'));
  });
});

describe('CRL numbers', () => {
  it('increase with every publish and stay distinct when two replicas publish at once', async () => {
    const a = testPki({ db: t.db });
    await a.pki.ready();
    const b = testPki({ db: t.db, keys: a.keys });
    const keyId = (await a.pki.listKeys())[0]!.id;
    const first = await a.pki.publishCrl(keyId);
    const second = await a.pki.publishCrl(keyId);
    expect(second.number).toBe(first.number + 1);

    const together = await Promise.all([
      ...Array.from({ length: 4 }, () => a.pki.publishCrl(keyId)),
      ...Array.from({ length: 4 }, () => b.pki.publishCrl(keyId)),
    ]);
    const numbers = together.map((r) => r.number);
    expect(new Set(numbers).size).toBe(numbers.length);
    const stored = await a.pki.crl(keyId);
    expect(stored.number).toBe(Math.max(...numbers));
  });

  it('a scheduled round republishes only when a third of the validity is left', async () => {
    const { pki, clock } = testPki({ db: t.db });
    await pki.ready();
    const initial = await pki.crl();
    await pki.maintain();
    expect((await pki.crl()).number).toBe(initial.number);
    clock.advance(11 * 60_000); // default nextUpdate is 15 min: 4 min left
    await pki.maintain();
    const republished = await pki.crl();
    expect(republished.number).toBeGreaterThan(initial.number);
    expect(republished.nextUpdate.getTime() - republished.thisUpdate.getTime()).toBe(15 * 60_000);
  });
});

describe('signing-key lifecycle', () => {
  it('rotation keeps old certificates valid; the Trusted window ends in retirement', async () => {
    const { pki, clock, rotateApproved } = testPki({
      db: t.db,
      env: { AMPORA_CA_TRUSTED_WINDOW_DAYS: '2' },
    });
    const old = await issueAgent(pki, t.defaultTenantId, 'old');
    const oldKey = old.signingKeyId;
    const rotated = await rotateApproved(t.defaultTenantId);
    expect(rotated.state).toBe('active');
    const keys = await pki.listKeys();
    expect(keys.find((k) => k.id === oldKey)).toMatchObject({ state: 'trusted' });
    expect((await pki.service.trustBundlePem()).match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(await pki.service.statusByFingerprint(old.fingerprint)).toMatchObject({ status: 'good' });

    const fresh = await issueAgent(pki, t.defaultTenantId, 'new');
    expect(fresh.signingKeyId).toBe(rotated.id);
    // The old key's CRL is still served at the URL its certificates name.
    expect((await pki.crl(oldKey)).der.length).toBeGreaterThan(0);
    expect((await pki.crl()).number).toBeGreaterThan(0);

    clock.advance(3 * DAY);
    await pki.maintain();
    expect((await pki.listKeys()).find((k) => k.id === oldKey)).toMatchObject({ state: 'retired' });
    expect((await pki.service.trustBundlePem()).match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
    const actions = await auditActions(t.defaultTenantId);
    expect(actions).toContain('pki.signing-key.rotate');
    expect(actions).toContain('pki.signing-key.activate');
    expect(actions).toContain('pki.signing-key.retire');
  });

  it('the Active key cannot be retired; a Trusted one can, once', async () => {
    const { pki, rotateApproved } = testPki({ db: t.db });
    await pki.ready();
    const [first] = await pki.listKeys();
    await expectProblem(pki.retire(adminContext(t.defaultTenantId), first!.id), 409);
    await rotateApproved(t.defaultTenantId);
    expect(await pki.retire(adminContext(t.defaultTenantId), first!.id)).toMatchObject({ state: 'retired' });
    await expectProblem(pki.retire(adminContext(t.defaultTenantId), first!.id), 409);
    await expectProblem(
      pki.retire(adminContext(t.defaultTenantId), '01900000-0000-7000-8000-000000000000'),
      404,
    );
  });

  it('only one key is ever Active, even when rotations and their approvals race', async () => {
    const { pki, rotateApproved } = testPki({ db: t.db });
    await pki.ready();
    await Promise.all([rotateApproved(t.defaultTenantId), rotateApproved(t.defaultTenantId)]);
    const { rows } = await sql<{
      n: number;
    }>`select count(*)::int as n from ca_signing_keys where state = 'active'`.execute(t.owner);
    expect(rows[0]!.n).toBe(1);
    expect((await pki.listKeys()).filter((k) => k.state === 'trusted')).toHaveLength(2);
  });
});

describe('activation by a second Admin', () => {
  it('a rotated key is a Draft that signs nothing until it is approved', async () => {
    const { pki, approvals } = testPki({ db: t.db });
    await pki.ready();
    const [first] = await pki.listKeys();
    const proposed = await pki.rotate(await actorOf(approvals, t.defaultTenantId, 'Ada'));
    const draftId = proposed.key.id;
    expect(proposed.key).toMatchObject({ state: 'draft', source: 'generated', activatedAt: null });
    expect(proposed.key.certPem).toMatch(/BEGIN CERTIFICATE/);
    expect(proposed.approval).toMatchObject({
      status: 'pending',
      kind: 'pki.signing-key.activate',
      entity: { type: 'signing-key', id: draftId },
      summary: { keyId: draftId, fingerprint: proposed.key.fingerprint, subject: proposed.key.subject },
      requestedBy: { kind: 'user', id: 'sub-ada', name: 'Ada' },
    });

    // Issuance, the trust bundle, OCSP and CRLs stay with the Active key, even after a round.
    await pki.maintain();
    const agent = await issueAgent(pki, t.defaultTenantId, 'while-pending');
    expect(agent.signingKeyId).toBe(first!.id);
    expect((await pki.service.trustBundlePem()).match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
    await expectProblem(pki.crl(draftId), 404);
    const signedByDraft = await t.owner
      .selectFrom('certificate_status')
      .select('serial_hex')
      .where('signing_key_id', '=', draftId)
      .execute();
    expect(signedByDraft).toEqual([]);
    const responders = await t.owner
      .selectFrom('ca_ocsp_responders')
      .select('signing_key_id')
      .where('signing_key_id', '=', draftId)
      .execute();
    expect(responders).toEqual([]);

    await approvals.approve(await actorOf(approvals, t.defaultTenantId, 'Bob'), proposed.approval.id);
    const keys = await pki.listKeys();
    expect(keys.find((k) => k.id === draftId)).toMatchObject({ state: 'active' });
    expect(keys.find((k) => k.id === first!.id)).toMatchObject({ state: 'trusted' });
    // The approval's after-commit work: the new key's responder and first CRL.
    expect(
      await t.owner
        .selectFrom('ca_ocsp_responders')
        .select('signing_key_id')
        .where('signing_key_id', '=', draftId)
        .execute(),
    ).toHaveLength(1);
    expect((await pki.crl(draftId)).number).toBeGreaterThan(0);
    expect((await issueAgent(pki, t.defaultTenantId, 'after-approval')).signingKeyId).toBe(draftId);
    const actions = await auditActions(t.defaultTenantId);
    for (const action of [
      'pki.signing-key.rotate',
      'approval.request.create',
      'approval.request.approve',
      'pki.signing-key.activate',
    ]) {
      expect(actions).toContain(action);
    }
    expect(actions.indexOf('pki.signing-key.activate')).toBeLessThan(
      actions.indexOf('approval.request.approve'),
    );
  });

  it('a Draft with a pending request cannot be retired; once the request is withdrawn it can', async () => {
    const { pki, approvals } = testPki({ db: t.db });
    await pki.ready();
    const ada = await actorOf(approvals, t.defaultTenantId, 'Ada');
    const proposed = await pki.rotate(ada);
    await expectProblem(pki.retire(adminContext(t.defaultTenantId), proposed.key.id), 409);
    await approvals.cancel(ada, proposed.approval.id);
    expect(await pki.retire(adminContext(t.defaultTenantId), proposed.key.id)).toMatchObject({
      state: 'retired',
    });
    // A retired key cannot be asked for again, nor can an Active one.
    await expectProblem(pki.requestActivation(ada, proposed.key.id), 409);
    const [active] = (await pki.listKeys()).filter((k) => k.state === 'active');
    await expectProblem(pki.requestActivation(ada, active!.id), 409);
    await expectProblem(pki.requestActivation(ada, '01900000-0000-7000-8000-000000000000'), 404);
  });

  it('a withdrawn Draft can be asked for again, once at a time', async () => {
    const { pki, approvals } = testPki({ db: t.db });
    await pki.ready();
    const ada = await actorOf(approvals, t.defaultTenantId, 'Ada');
    const proposed = await pki.rotate(ada);
    await expectProblem(pki.requestActivation(ada, proposed.key.id), 409);
    await approvals.cancel(ada, proposed.approval.id);
    const again = await pki.requestActivation(ada, proposed.key.id);
    expect(again.approval).toMatchObject({ status: 'pending', entity: { id: proposed.key.id } });
    expect(again.approval.id).not.toBe(proposed.approval.id);
    await approvals.approve(await actorOf(approvals, t.defaultTenantId, 'Bob'), again.approval.id);
    expect((await pki.listKeys()).find((k) => k.id === proposed.key.id)).toMatchObject({ state: 'active' });
  });

  it('an approval for a key that is no longer a Draft, or whose certificate expired, is refused with 409', async () => {
    const { pki, approvals, clock } = testPki({ db: t.db, env: { AMPORA_CA_CA_CERT_LIFETIME_DAYS: '30' } });
    await pki.ready();
    const other = await createTenant(t.owner, 'other');
    const bob = await actorOf(approvals, t.defaultTenantId, 'Bob');
    // Signing keys are install-wide: an Admin of another tenant, who cannot see this tenant's
    // request, discards the Draft.
    const discarded = await pki.rotate(await actorOf(approvals, t.defaultTenantId, 'Ada'));
    await pki.retire(adminContext(other, 'Olga'), discarded.key.id);
    await expectProblem(approvals.approve(bob, discarded.approval.id), 409);
    expect((await approvals.get(t.defaultTenantId, discarded.approval.id)).status).toBe('pending');

    const late = await pki.rotate(await actorOf(approvals, t.defaultTenantId, 'Ada'));
    clock.advance(31 * DAY);
    await expectProblem(approvals.approve(bob, late.approval.id), 409);
    expect((await pki.listKeys()).find((k) => k.id === late.key.id)).toMatchObject({ state: 'draft' });
  });
});

describe('OCSP responder certificate', () => {
  it('is renewed when less than a third of its life is left', async () => {
    const { pki, clock } = testPki({ db: t.db });
    await pki.ready();
    const before = await t.owner.selectFrom('ca_ocsp_responders').selectAll().executeTakeFirstOrThrow();
    clock.advance(50 * DAY);
    await pki.maintain();
    expect(
      (await t.owner.selectFrom('ca_ocsp_responders').selectAll().executeTakeFirstOrThrow()).serial_hex,
    ).toBe(before.serial_hex);
    clock.advance(11 * DAY); // 90-day certificate with 29 days left
    await pki.maintain();
    const after = await t.owner.selectFrom('ca_ocsp_responders').selectAll().executeTakeFirstOrThrow();
    expect(after.serial_hex).not.toBe(before.serial_hex);
    const recorded = await t.owner
      .selectFrom('certificates')
      .select('kind')
      .where('kind', '=', 'ocsp-responder')
      .execute();
    expect(recorded).toHaveLength(2);
  });
});

describe('local server TLS', () => {
  it('issues a serverAuth certificate once and serves the same one until it is due', async () => {
    const { pki, clock, keys } = testPki({ db: t.db });
    const first = await pki.service.localServerTls(['localhost', '127.0.0.1']);
    const info = inspectCertificate(first.certPem);
    expect(info.sans.dns).toEqual(['localhost']);
    expect(info.sans.ips).toEqual(['127.0.0.1']);
    expect(info.extendedKeyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(first.keyPem).toMatch(/BEGIN PRIVATE KEY/);
    expect(first.caPem).toBe(await pki.service.trustBundlePem());

    const again = testPki({ db: t.db, keys, clock });
    expect((await again.pki.service.localServerTls(['127.0.0.1', 'LOCALHOST'])).certPem).toBe(first.certPem);
    const row = await t.owner.selectFrom('ca_server_tls').selectAll().executeTakeFirstOrThrow();
    expect(row.key_pem).not.toMatch(/PRIVATE KEY/);

    clock.advance(61 * DAY);
    expect((await pki.service.localServerTls(['localhost', '127.0.0.1'])).certPem).not.toBe(first.certPem);
  });
});
