import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDatabase, withTenant } from '@ampora/db';
import { ocspErrorResponse } from '@ampora/pki';
import { createTestDatabase, type TestDatabase } from '../../../../../test/support/database.js';
import { actorOf, adminContext, createTenant, testPki } from './pki-test-support.js';
import type { Pki } from './pki-service.js';

const DAY = 86_400_000;
let t: TestDatabase;
let dir: string;

beforeEach(async () => {
  t = await createTestDatabase();
  dir = mkdtempSync(join(tmpdir(), 'ampora-pki-metrics-'));
});
afterEach(async () => {
  rmSync(dir, { recursive: true, force: true });
  await t?.close();
});

type Labels = Record<string, string>;

/** Every series of one metric, as a scrape would show it. */
async function series(registry: Registry, name: string) {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`${name} is not registered`);
  return (await metric.get()).values.map((v) => ({ labels: v.labels as Labels, value: v.value }));
}

/** The value of the series with exactly these labels, or undefined when there is none. */
async function valueOf(registry: Registry, name: string, labels: Labels = {}) {
  const all = await series(registry, name);
  const match = all.find(
    (s) =>
      Object.keys(s.labels).length === Object.keys(labels).length &&
      Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return match?.value;
}

const unixSeconds = (d: Date | string) => new Date(d).getTime() / 1000;

const GAUGES = [
  'ampora_pki_signing_key_not_after_seconds',
  'ampora_pki_ocsp_responder_not_after_seconds',
  'ampora_pki_crl_next_update_seconds',
  'ampora_pki_crl_number',
];

/** Every gauge series of one signing key. */
async function keySeries(registry: Registry, keyId: string) {
  const found = [];
  for (const name of GAUGES) {
    for (const s of await series(registry, name)) if (s.labels.key_id === keyId) found.push({ name, ...s });
  }
  return found;
}

async function issueAgent(pki: Pki, tenantId: string, agentId: string) {
  const cert = await pki.service.signAgentCertificate({
    tenantId,
    agentId,
    publicKeySpkiDer: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
      format: 'der',
      type: 'spki',
    }),
    commonName: agentId,
  });
  const id = await withTenant(t.db, tenantId, (tx) =>
    pki.recordCertificate(tx, cert, { tenantId, agentId, kind: 'agent' }),
  );
  return { ...cert, id };
}

/** An OCSP request built by openssl, for the certificate `certPem` and/or extra serials. */
function ocspRequest(caPem: string, certPem?: string, serials: string[] = []): Buffer {
  writeFileSync(join(dir, 'ca.pem'), caPem);
  const args = ['ocsp', '-issuer', join(dir, 'ca.pem'), '-no_nonce', '-reqout', join(dir, 'req.der')];
  if (certPem) {
    writeFileSync(join(dir, 'leaf.pem'), certPem);
    args.push('-cert', join(dir, 'leaf.pem'));
  }
  for (const serial of serials) args.push('-serial', serial);
  execFileSync('/usr/bin/openssl', args, { stdio: 'pipe' });
  return readFileSync(join(dir, 'req.der'));
}

describe('PKI gauges', () => {
  it('once the CA is ready, show the CA and responder certificates and the stored CRL', async () => {
    const { pki, registry } = testPki({ db: t.db });
    await pki.ready();
    const [key] = await pki.listKeys();
    expect(await series(registry, 'ampora_pki_signing_key_not_after_seconds')).toEqual([
      { labels: { key_id: key!.id, state: 'active' }, value: unixSeconds(key!.notAfter!) },
    ]);
    const responder = await t.owner.selectFrom('ca_ocsp_responders').selectAll().executeTakeFirstOrThrow();
    expect(await series(registry, 'ampora_pki_ocsp_responder_not_after_seconds')).toEqual([
      { labels: { key_id: key!.id }, value: unixSeconds(responder.not_after) },
    ]);
    const crl = await pki.crl();
    expect(await valueOf(registry, 'ampora_pki_crl_number', { key_id: key!.id })).toBe(crl.number);
    expect(await valueOf(registry, 'ampora_pki_crl_next_update_seconds', { key_id: key!.id })).toBe(
      unixSeconds(crl.nextUpdate),
    );
    expect(await valueOf(registry, 'ampora_pki_crl_published_total')).toBe(1);
  });

  it('are kept in memory: a scrape does not read the database, the next maintenance round does', async () => {
    const { pki, registry } = testPki({ db: t.db });
    await pki.ready();
    const [key] = await pki.listKeys();
    const shown = await valueOf(registry, 'ampora_pki_crl_next_update_seconds', { key_id: key!.id });
    // Far enough ahead that the round does not republish the CRL.
    const moved = new Date(Date.now() + 3_600_000);
    await t.owner
      .updateTable('crl_state')
      .set({ next_update: moved })
      .where('signing_key_id', '=', key!.id)
      .execute();
    expect(await valueOf(registry, 'ampora_pki_crl_next_update_seconds', { key_id: key!.id })).toBe(shown);
    await pki.maintain();
    expect(await valueOf(registry, 'ampora_pki_crl_next_update_seconds', { key_id: key!.id })).toBe(
      unixSeconds(moved),
    );
  });

  it('keep their last values when the database cannot be read', async () => {
    const pool = createDatabase(t.appUrl, { max: 2 });
    const { pki, registry, clock } = testPki({ db: pool });
    await pki.ready();
    const snapshot = async () => {
      const all = [];
      for (const name of GAUGES) all.push(...(await series(registry, name)));
      return all;
    };
    const before = await snapshot();
    expect(before).toHaveLength(4);
    await pool.destroy();
    clock.advance(11 * 60_000);
    await expect(pki.maintain()).rejects.toThrow();
    expect(await snapshot()).toEqual(before);
  });

  it('follow another replica’s CRL after this replica’s next round', async () => {
    const a = testPki({ db: t.db });
    await a.pki.ready();
    const b = testPki({ db: t.db, keys: a.keys });
    const keyId = (await a.pki.listKeys())[0]!.id;
    const before = await valueOf(a.registry, 'ampora_pki_crl_number', { key_id: keyId });
    const published = await b.pki.publishCrl(keyId);
    expect(published.number).toBeGreaterThan(before!);
    expect(await valueOf(a.registry, 'ampora_pki_crl_number', { key_id: keyId })).toBe(before);
    await a.pki.maintain();
    expect(await valueOf(a.registry, 'ampora_pki_crl_number', { key_id: keyId })).toBe(published.number);
    // Each replica counts only the CRLs it published itself.
    expect(await valueOf(a.registry, 'ampora_pki_crl_published_total')).toBe(1);
    expect(await valueOf(b.registry, 'ampora_pki_crl_published_total')).toBe(1);
  });
});

describe('revocation metrics', () => {
  it('count each revoked certificate by reason and move the CRL gauges to the republished CRL', async () => {
    const { pki, registry } = testPki({ db: t.db });
    const a = await issueAgent(pki, t.defaultTenantId, 'a');
    const b = await issueAgent(pki, t.defaultTenantId, 'b');
    const c = await issueAgent(pki, t.defaultTenantId, 'c');
    const keyId = a.signingKeyId;
    const numberBefore = await valueOf(registry, 'ampora_pki_crl_number', { key_id: keyId });
    const publishedBefore = await valueOf(registry, 'ampora_pki_crl_published_total');
    for (const s of await series(registry, 'ampora_pki_certificates_revoked_total')) expect(s.value).toBe(0);

    await pki.revoke(adminContext(t.defaultTenantId), a.id, 'keyCompromise');
    const revoked = (reason: string) =>
      valueOf(registry, 'ampora_pki_certificates_revoked_total', { reason });
    expect(await revoked('keyCompromise')).toBe(1);
    const crl = await pki.crl(keyId);
    expect(crl.number).toBeGreaterThan(numberBefore!);
    expect(await valueOf(registry, 'ampora_pki_crl_number', { key_id: keyId })).toBe(crl.number);
    expect(await valueOf(registry, 'ampora_pki_crl_next_update_seconds', { key_id: keyId })).toBe(
      unixSeconds(crl.nextUpdate),
    );
    expect(await valueOf(registry, 'ampora_pki_crl_published_total')).toBe(publishedBefore! + 1);

    // A bulk revocation counts every certificate it revoked, and only those.
    const missing = '01900000-0000-7000-8000-000000000000';
    await pki.revokeMany(adminContext(t.defaultTenantId), [a.id, b.id, c.id, missing], 'superseded');
    expect(await revoked('superseded')).toBe(2);
    expect(await revoked('keyCompromise')).toBe(1);
    expect(await valueOf(registry, 'ampora_pki_crl_number', { key_id: keyId })).toBe(
      (await pki.crl(keyId)).number,
    );
  });

  it('count nothing for a refused revocation', async () => {
    const { pki, registry } = testPki({ db: t.db });
    const other = await createTenant(t.owner, 'other');
    const theirs = await issueAgent(pki, other, 'theirs');
    const mine = await issueAgent(pki, t.defaultTenantId, 'mine');
    await pki.revoke(adminContext(t.defaultTenantId), mine.id, 'unspecified');
    const numberBefore = await valueOf(registry, 'ampora_pki_crl_number', { key_id: mine.signingKeyId });

    await expect(
      pki.revoke(adminContext(t.defaultTenantId), theirs.id, 'keyCompromise'),
    ).rejects.toMatchObject({ status: 404 });
    await expect(pki.revoke(adminContext(t.defaultTenantId), mine.id, 'keyCompromise')).rejects.toMatchObject(
      { status: 409 },
    );
    await pki.revokeMany(adminContext(t.defaultTenantId), [theirs.id, mine.id], 'keyCompromise');

    expect(
      await valueOf(registry, 'ampora_pki_certificates_revoked_total', { reason: 'keyCompromise' }),
    ).toBe(0);
    expect(await valueOf(registry, 'ampora_pki_certificates_revoked_total', { reason: 'unspecified' })).toBe(
      1,
    );
    expect(await valueOf(registry, 'ampora_pki_crl_number', { key_id: mine.signingKeyId })).toBe(
      numberBefore,
    );
  });
});

describe('OCSP metrics', () => {
  const ocsp = (registry: Registry, status: string) =>
    valueOf(registry, 'ampora_pki_ocsp_responses_total', { status });

  it('count good, revoked and unknown answers and the error responses', async () => {
    const { pki, registry, clock } = testPki({ db: t.db });
    const agent = await issueAgent(pki, t.defaultTenantId, 'a1');
    for (const status of ['good', 'revoked', 'unknown', 'malformedRequest', 'tryLater', 'internalError']) {
      expect(await ocsp(registry, status)).toBe(0);
    }

    await pki.ocspRespond(ocspRequest(agent.chainPem, agent.certPem));
    expect(await ocsp(registry, 'good')).toBe(1);
    await pki.revoke(adminContext(t.defaultTenantId), agent.id, 'keyCompromise');
    await pki.ocspRespond(ocspRequest(agent.chainPem, agent.certPem));
    expect(await ocsp(registry, 'revoked')).toBe(1);
    await pki.ocspRespond(ocspRequest(agent.chainPem, undefined, ['0x0123456789abcdef']));
    expect(await ocsp(registry, 'unknown')).toBe(1);
    // One request asking about two certificates: each answer is counted.
    const other = await issueAgent(pki, t.defaultTenantId, 'a2');
    await pki.ocspRespond(ocspRequest(agent.chainPem, other.certPem, ['0x0abc']));
    expect(await ocsp(registry, 'good')).toBe(2);
    expect(await ocsp(registry, 'unknown')).toBe(2);

    expect(await pki.ocspRespond(Buffer.from('not ocsp'))).toEqual(ocspErrorResponse('malformedRequest'));
    expect(await pki.ocspRespond(Buffer.alloc(0))).toEqual(ocspErrorResponse('malformedRequest'));
    expect(await ocsp(registry, 'malformedRequest')).toBe(2);

    // Without a responder certificate there is nobody to sign: tryLater.
    await t.owner.deleteFrom('ca_ocsp_responders').execute();
    clock.advance(11_000);
    expect(await pki.ocspRespond(ocspRequest(agent.chainPem, agent.certPem))).toEqual(
      ocspErrorResponse('tryLater'),
    );
    expect(await ocsp(registry, 'tryLater')).toBe(1);
    expect(await ocsp(registry, 'revoked')).toBe(1);
    expect(await ocsp(registry, 'internalError')).toBe(0);
  });

  it('count a request the server failed to answer as internalError', async () => {
    const pool = createDatabase(t.appUrl, { max: 2 });
    const { pki, registry, clock } = testPki({ db: pool });
    const agent = await issueAgent(pki, t.defaultTenantId, 'a1');
    await pool.destroy();
    clock.advance(11_000);
    await expect(pki.ocspRespond(ocspRequest(agent.chainPem, agent.certPem))).rejects.toThrow();
    expect(await ocsp(registry, 'internalError')).toBe(1);
    expect(await ocsp(registry, 'good')).toBe(0);
  });
});

describe('signing-key gauges through the key lifecycle', () => {
  it('show a Draft with its state, follow activation, and drop a retired key’s series', async () => {
    const { pki, registry, approvals, rotateApproved } = testPki({ db: t.db });
    await pki.ready();
    const [first] = await pki.listKeys();
    const ada = await actorOf(approvals, t.defaultTenantId, 'Ada');

    const draft = await pki.rotate(ada);
    expect(await keySeries(registry, draft.key.id)).toEqual([
      {
        name: 'ampora_pki_signing_key_not_after_seconds',
        labels: { key_id: draft.key.id, state: 'draft' },
        value: unixSeconds(draft.key.notAfter!),
      },
    ]);
    await approvals.approve(await actorOf(approvals, t.defaultTenantId, 'Bob'), draft.approval.id);

    // The new key is Active with its responder and first CRL; the old one is Trusted.
    const names = (s: Array<{ name: string; labels: Labels }>) =>
      s.map((x) => `${x.name}:${x.labels.state ?? ''}`);
    expect(names(await keySeries(registry, draft.key.id)).sort()).toEqual([
      'ampora_pki_crl_next_update_seconds:',
      'ampora_pki_crl_number:',
      'ampora_pki_ocsp_responder_not_after_seconds:',
      'ampora_pki_signing_key_not_after_seconds:active',
    ]);
    const newCrl = await pki.crl(draft.key.id);
    expect(await valueOf(registry, 'ampora_pki_crl_number', { key_id: draft.key.id })).toBe(newCrl.number);
    expect(names(await keySeries(registry, first!.id))).toContain(
      'ampora_pki_signing_key_not_after_seconds:trusted',
    );
    expect(names(await keySeries(registry, first!.id))).not.toContain(
      'ampora_pki_signing_key_not_after_seconds:active',
    );

    // Retired, it still publishes CRLs (its responder certificate has not expired), so its CRL
    // stays watched, under state="retired".
    await pki.retire(adminContext(t.defaultTenantId), first!.id);
    expect(names(await keySeries(registry, first!.id)).sort()).toEqual([
      'ampora_pki_crl_next_update_seconds:',
      'ampora_pki_crl_number:',
      'ampora_pki_ocsp_responder_not_after_seconds:',
      'ampora_pki_signing_key_not_after_seconds:retired',
    ]);
    const republished = await pki.publishCrl(first!.id);
    expect(await valueOf(registry, 'ampora_pki_crl_number', { key_id: first!.id })).toBe(
      (republished as { number: number }).number,
    );
    expect(await keySeries(registry, draft.key.id)).toHaveLength(4);

    // A Draft discarded without activation disappears too.
    const discarded = await pki.rotate(ada);
    await approvals.cancel(ada, discarded.approval.id);
    expect(await keySeries(registry, discarded.key.id)).toHaveLength(1);
    await pki.retire(adminContext(t.defaultTenantId), discarded.key.id);
    expect(await keySeries(registry, discarded.key.id)).toEqual([]);

    // The next rotation makes it Trusted in turn.
    await rotateApproved(t.defaultTenantId);
    expect(names(await keySeries(registry, draft.key.id))).toContain(
      'ampora_pki_signing_key_not_after_seconds:trusted',
    );
  });

  it('follow a Trusted key into retirement, and drop it once its last certificate has expired', async () => {
    const { pki, registry, clock, rotateApproved } = testPki({
      db: t.db,
      env: { AMPORA_CA_TRUSTED_WINDOW_DAYS: '1' },
    });
    await pki.ready();
    const [first] = await pki.listKeys();
    const second = await rotateApproved(t.defaultTenantId);
    expect(await keySeries(registry, first!.id)).toHaveLength(4);
    clock.advance(2 * DAY);
    await pki.maintain();
    expect((await pki.listKeys()).find((k) => k.id === first!.id)).toMatchObject({ state: 'retired' });
    expect(await series(registry, 'ampora_pki_signing_key_not_after_seconds')).toEqual(
      expect.arrayContaining([
        { labels: { key_id: second.id, state: 'active' }, value: unixSeconds(second.notAfter!) },
        { labels: { key_id: first!.id, state: 'retired' }, value: expect.any(Number) },
      ]),
    );
    // Once nothing it issued is valid any more, it publishes nothing and is not shown.
    await t.owner
      .updateTable('certificate_status')
      .set({ not_after: new Date(clock.now().getTime() - 1000) })
      .where('signing_key_id', '=', first!.id)
      .execute();
    await pki.maintain();
    expect(await keySeries(registry, first!.id)).toEqual([]);
    expect(await series(registry, 'ampora_pki_signing_key_not_after_seconds')).toEqual([
      { labels: { key_id: second.id, state: 'active' }, value: unixSeconds(second.notAfter!) },
    ]);
  });
});
