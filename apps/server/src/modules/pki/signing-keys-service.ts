import { sql } from 'kysely';
import {
  createCaCertificate,
  fingerprintSha256,
  importExternalCa,
  inspectCertificate,
  pemEncode,
  type ImportExternalCaInput,
  type Issuer,
  type Signer,
} from '@ampora/pki';
import { DEFAULT_TENANT_ID, withTenant, type Tx } from '@ampora/db';
import { problems } from '../../http/problem.js';
import type { ServerContext } from '../../runtime/context.js';
import type { ApprovalActor, ApprovalsService, ApprovalView } from '../approvals/approvals-service.js';
import { systemAuditContext, type AuditContext } from '../audit/audit-recorder.js';
import type { CaKeyAlgorithm, KeyCustody, NewKey } from './ca-key-custody.js';
import {
  activateKey,
  getActiveKey,
  getSigningKey,
  insertSigningKey,
  lapsedTrustedKeys,
  listSigningKeys,
  lockSigningKey,
  publishingKeys,
  retireKey,
  setKeyCertificate,
  trustedKeys,
  type PublishedKeyRow,
  type SigningKeyRow,
} from './pki-queries.js';
import type { PkiSettings } from './pki-settings.js';

export interface SigningKeysDeps extends Pick<ServerContext, 'db' | 'clock' | 'ids' | 'audit' | 'logger'> {
  custody: KeyCustody;
  settings: PkiSettings;
  approvals: Pick<ApprovalsService, 'request' | 'pendingFor'>;
}

/** The approval kind under which a Draft key waits for a second Admin before it becomes Active. */
export const SIGNING_KEY_ACTIVATION = 'pki.signing-key.activate';

/** A signing key ready to sign: its certificate, the chain above it, and a signer. */
export interface CaIssuer extends Issuer {
  id: string;
  cert: Buffer;
  signer: Signer;
  /** This CA certificate and the ones above it, PEM: what a leaf's chain carries. */
  chainPem: string;
  notAfter: Date;
}

const HOUR_MS = 3_600_000;
/** Replicas see another replica's rotation within this long. */
const ACTIVE_CACHE_MS = 10_000;

export const keyRefAad = (id: string) => `ca_signing_keys:key_ref:${id}`;

/** A signing key with its certificate, as it is stored before it becomes Active. */
interface CaRow {
  id: string;
  algorithm: string;
  key_spec: string;
  provider: string;
  key_ref: string;
  source: 'generated' | 'imported';
  subject: string;
  cert_der: Buffer;
  fingerprint: string;
  chain_pem: string;
  not_before: Date;
  not_after: Date;
}

/**
 * The CA signing keys: first-start bootstrap, rotation and import (each a Draft awaiting a second
 * Admin), the approved activation, retirement, and the Trusted window. Key generation and signing
 * happen before the transaction that records their result. A Draft key signs exactly one thing,
 * its own CA certificate when it is generated, so the approver sees the certificate they approve;
 * nothing looks for an issuer among Draft keys.
 */
export function createSigningKeys(deps: SigningKeysDeps) {
  const { db, clock, ids, audit, custody, settings } = deps;
  const issuers = new Map<string, CaIssuer>();
  let active: { issuer: CaIssuer; until: number } | undefined;

  function issuerOf(row: PublishedKeyRow): CaIssuer {
    const cached = issuers.get(row.id);
    if (cached && cached.cert.equals(row.cert_der)) return cached;
    const info = inspectCertificate(row.cert_der);
    const issuer: CaIssuer = {
      id: row.id,
      cert: row.cert_der,
      signer: custody.signer({
        keyRef: row.key_ref,
        provider: row.provider,
        algorithm: row.algorithm,
        aad: keyRefAad(row.id),
        publicKeySpkiDer: info.publicKeySpkiDer,
      }),
      chainPem: pemEncode(row.cert_der, 'CERTIFICATE') + row.chain_pem,
      notAfter: info.notAfter,
    };
    issuers.set(row.id, issuer);
    return issuer;
  }

  function invalidate() {
    active = undefined;
  }

  /** What an approver is shown: the certificate that the key will sign under. */
  function activationSummary(row: {
    id: string;
    source: string;
    key_spec: string;
    algorithm: string;
    provider: string;
    subject: string | null;
    fingerprint: string | null;
    not_before: Date | null;
    not_after: Date | null;
  }) {
    return {
      keyId: row.id,
      source: row.source,
      keySpec: row.key_spec,
      algorithm: row.algorithm,
      provider: row.provider,
      subject: row.subject,
      fingerprint: row.fingerprint,
      notBefore: row.not_before?.toISOString() ?? null,
      notAfter: row.not_after?.toISOString() ?? null,
    };
  }

  /**
   * The bootstrap's activation: stores the new key's certificate and makes it Active in one
   * audited transaction, with no approval (see {@link bootstrap} for why).
   */
  async function activateNow(actx: AuditContext, row: CaRow) {
    const now = clock.now();
    const trustedUntil = new Date(now.getTime() + settings.trustedWindowMs);
    await withTenant(db, actx.tenantId, async (tx) => {
      await setKeyCertificate(tx, row.id, {
        der: row.cert_der,
        subject: row.subject,
        fingerprint: row.fingerprint,
        notBefore: row.not_before,
        notAfter: row.not_after,
      });
      const previous = await activateKey(tx, row.id, now, trustedUntil);
      await audit.record(tx, actx, {
        action: 'pki.signing-key.bootstrap',
        entity: { type: 'signing-key', id: row.id },
        before: { activeKeyId: previous ?? null },
        after: {
          activeKeyId: row.id,
          subject: row.subject,
          fingerprint: row.fingerprint,
          keySpec: row.key_spec,
          provider: row.provider,
          source: row.source,
          notAfter: row.not_after,
        },
      });
    });
    invalidate();
  }

  /**
   * Stores a new key with its certificate as a Draft (inserting the row unless generation already
   * did) and opens its activation request, in one audited transaction, so the certificate the
   * approver is shown and the request for it commit together or not at all.
   */
  async function propose(
    actor: ApprovalActor,
    row: CaRow,
    action: string,
    extra: { rowExists: boolean; after?: Record<string, unknown>; secretKeys?: string[] },
  ): Promise<{ id: string; approval: ApprovalView }> {
    const approval = await withTenant(db, actor.audit.tenantId, async (tx) => {
      if (extra.rowExists) {
        await setKeyCertificate(tx, row.id, {
          der: row.cert_der,
          subject: row.subject,
          fingerprint: row.fingerprint,
          notBefore: row.not_before,
          notAfter: row.not_after,
        });
      } else {
        await insertSigningKey(tx, { ...row, state: 'draft' });
      }
      const request = await deps.approvals.request(tx, actor, {
        kind: SIGNING_KEY_ACTIVATION,
        entity: { type: 'signing-key', id: row.id },
        summary: activationSummary(row),
      });
      await audit.record(tx, actor.audit, {
        action,
        entity: { type: 'signing-key', id: row.id },
        after: {
          state: 'draft',
          subject: row.subject,
          fingerprint: row.fingerprint,
          keySpec: row.key_spec,
          provider: row.provider,
          source: row.source,
          notAfter: row.not_after,
          approvalRequestId: request.id,
          ...extra.after,
        },
        secretKeys: extra.secretKeys,
      });
      return request;
    });
    return { id: row.id, approval };
  }

  /** Generates a key as a Draft (audited), then signs its self-signed CA certificate. */
  async function generateCa(actx: AuditContext, algorithm: CaKeyAlgorithm): Promise<CaRow> {
    const id = ids.uuid();
    const key: NewKey = await custody.generate(algorithm, keyRefAad(id));
    await withTenant(db, actx.tenantId, async (tx) => {
      await insertSigningKey(tx, {
        id,
        state: 'draft',
        algorithm: key.algorithm,
        key_spec: key.keySpec,
        provider: key.provider,
        key_ref: key.keyRef,
        source: 'generated',
      });
      await audit.record(tx, actx, {
        action: 'pki.signing-key.create',
        entity: { type: 'signing-key', id },
        after: { id, state: 'draft', keySpec: key.keySpec, algorithm: key.algorithm, provider: key.provider },
      });
    });
    const now = clock.now();
    const subject = `CN=Ampora Agent CA ${id}, O=Ampora`;
    const der = await createCaCertificate({
      signer: custody.signer({
        keyRef: key.keyRef,
        provider: key.provider,
        algorithm: key.algorithm,
        aad: keyRefAad(id),
        publicKeySpkiDer: key.publicKeySpkiDer,
      }),
      subject,
      // Backdated an hour, so agents with a slightly slow clock accept it at once.
      notBefore: new Date(now.getTime() - HOUR_MS),
      notAfter: new Date(now.getTime() + settings.caCertLifetimeMs),
    });
    const info = inspectCertificate(der);
    return {
      id,
      algorithm: key.algorithm,
      key_spec: key.keySpec,
      provider: key.provider,
      key_ref: key.keyRef,
      source: 'generated',
      subject: info.subject,
      cert_der: der,
      fingerprint: fingerprintSha256(der),
      chain_pem: '',
      not_before: info.notBefore,
      not_after: info.notAfter,
    };
  }

  return {
    /**
     * First start: with no Active key, generate one and make it Active at once. This is the one
     * activation without a second Admin: no person is involved, there is nothing to approve it
     * against (no key exists, so nothing is being replaced), and until a CA exists no agent can
     * enroll and the OpAMP listener has no TLS certificate. Every later key is a Draft until
     * approved. A session advisory lock keeps two replicas starting together from both creating a
     * CA; the loser finds the winner's key afterwards.
     */
    async bootstrap(): Promise<string | undefined> {
      if (await getActiveKey(db)) return undefined;
      return db.connection().execute(async (conn) => {
        await sql`select pg_advisory_lock(hashtextextended('ampora:pki:bootstrap', 0))`.execute(conn);
        try {
          if (await getActiveKey(db)) return undefined;
          const actx = systemAuditContext(DEFAULT_TENANT_ID, 'pki-bootstrap');
          const row = await generateCa(actx, settings.keyAlgorithm);
          await activateNow(actx, row);
          deps.logger.info({ signingKeyId: row.id, keySpec: row.key_spec }, 'created the CA signing key');
          return row.id;
        } finally {
          await sql`select pg_advisory_unlock(hashtextextended('ampora:pki:bootstrap', 0))`.execute(conn);
        }
      });
    },

    /** A new key and CA certificate, stored as a Draft with its activation request. */
    async rotate(actor: ApprovalActor, algorithm: CaKeyAlgorithm = settings.keyAlgorithm) {
      const row = await generateCa(actor.audit, algorithm);
      return propose(actor, row, 'pki.signing-key.rotate', { rowExists: true });
    },

    /** Imports an existing CA (PEM key and chain, or PKCS#12) as a Draft with its activation request. */
    async importCa(actor: ApprovalActor, input: ImportExternalCaInput) {
      const imported = importExternalCa(input, { now: clock.now() });
      const [caDer, ...parents] = imported.chain;
      const info = inspectCertificate(caDer!);
      const id = ids.uuid();
      const key = await custody.importPrivateKey(imported.privateKey, info.publicKeySpkiDer, keyRefAad(id));
      return propose(
        actor,
        {
          id,
          algorithm: key.algorithm,
          key_spec: key.keySpec,
          provider: key.provider,
          key_ref: key.keyRef,
          source: 'imported',
          subject: info.subject,
          cert_der: caDer!,
          fingerprint: info.fingerprintSha256,
          chain_pem: parents.map((der) => pemEncode(der, 'CERTIFICATE')).join(''),
          not_before: info.notBefore,
          not_after: info.notAfter,
        },
        'pki.signing-key.import',
        {
          rowExists: false,
          after: { chainLength: imported.chain.length },
          // Never part of `after`; listed so that a future field of that name is redacted too.
          secretKeys: ['keyPem', 'keyPassphrase', 'pkcs12', 'password'],
        },
      );
    },

    /** Asks again for a Draft key whose earlier request was rejected or cancelled. */
    async requestActivation(actor: ApprovalActor, id: string) {
      const approval = await withTenant(db, actor.audit.tenantId, async (tx) => {
        const row = await lockSigningKey(tx, id);
        if (!row) throw problems.notFound('signing key not found');
        if (row.state !== 'draft') throw problems.conflict(`the signing key is ${row.state}, not a Draft`);
        if (!row.cert_der) {
          throw problems.conflict(
            'the Draft key has no CA certificate (its creation did not finish); rotate again',
          );
        }
        return deps.approvals.request(tx, actor, {
          kind: SIGNING_KEY_ACTIVATION,
          entity: { type: 'signing-key', id },
          summary: activationSummary(row),
        });
      });
      return { id, approval };
    },

    /**
     * The approved activation, in the approval's transaction: the Draft becomes Active and the
     * current Active key Trusted. 409 when the key is no longer a Draft or its certificate has
     * expired meanwhile.
     */
    async applyActivation(tx: Tx, id: string, actx: AuditContext, approvalId: string) {
      const row = await lockSigningKey(tx, id);
      if (!row) throw problems.conflict('the signing key no longer exists');
      if (row.state !== 'draft')
        throw problems.conflict(`the signing key is ${row.state}, no longer a Draft`);
      const now = clock.now();
      if (!row.cert_der || !row.not_after) throw problems.conflict('the Draft key has no CA certificate');
      if (row.not_after.getTime() <= now.getTime()) {
        throw problems.conflict('the CA certificate of the Draft key has expired');
      }
      const trustedUntil = new Date(now.getTime() + settings.trustedWindowMs);
      const previous = await activateKey(tx, id, now, trustedUntil);
      await audit.record(tx, actx, {
        action: 'pki.signing-key.activate',
        entity: { type: 'signing-key', id },
        before: { state: 'draft', activeKeyId: previous ?? null },
        after: {
          state: 'active',
          activeKeyId: id,
          subject: row.subject,
          fingerprint: row.fingerprint,
          keySpec: row.key_spec,
          provider: row.provider,
          source: row.source,
          notAfter: row.not_after,
          approvalRequestId: approvalId,
          previousKey: previous ? { id: previous, state: 'trusted', trustedUntil } : null,
        },
      });
    },

    /** Takes a Trusted key out of the trust bundle, or discards a Draft nobody is asked to approve. */
    async retire(actx: AuditContext, id: string) {
      const now = clock.now();
      await withTenant(db, actx.tenantId, async (tx) => {
        const row = await lockSigningKey(tx, id);
        if (!row) throw problems.notFound('signing key not found');
        if (row.state === 'active') {
          throw problems.conflict('the Active key cannot be retired; rotate or import a new key first');
        }
        if (row.state === 'retired') throw problems.conflict('the signing key is already retired');
        if (row.state === 'draft' && (await deps.approvals.pendingFor(tx, SIGNING_KEY_ACTIVATION, id))) {
          throw problems.conflict(
            'the Draft key has a pending activation request; reject or cancel it first',
          );
        }
        await retireKey(tx, id, now);
        await audit.record(tx, actx, {
          action: 'pki.signing-key.retire',
          entity: { type: 'signing-key', id },
          before: { state: row.state },
          after: { state: 'retired', retiredAt: now },
        });
      });
      invalidate();
      custody.forget(keyRefAad(id));
    },

    /** Trusted keys past their window become Retired; returns their ids. */
    async retireLapsed(): Promise<string[]> {
      const now = clock.now();
      const actx = systemAuditContext(DEFAULT_TENANT_ID, 'pki-trusted-window');
      const retired = await withTenant(db, actx.tenantId, async (tx: Tx) => {
        const lapsed = await lapsedTrustedKeys(tx, now);
        for (const key of lapsed) {
          await retireKey(tx, key.id, now);
          await audit.record(tx, actx, {
            action: 'pki.signing-key.retire',
            entity: { type: 'signing-key', id: key.id },
            before: { state: 'trusted', trustedUntil: key.trusted_until },
            after: { state: 'retired', retiredAt: now },
          });
        }
        return lapsed.map((k) => k.id);
      });
      if (retired.length) invalidate();
      return retired;
    },

    /** The Active key's issuer, cached briefly; a rotation here clears the cache. */
    async activeIssuer(): Promise<CaIssuer> {
      const now = clock.now().getTime();
      if (active && active.until > now) return active.issuer;
      const row = await getActiveKey(db);
      if (!row) throw problems.unavailable(5, 'the certificate authority is not ready');
      active = { issuer: issuerOf(row), until: now + ACTIVE_CACHE_MS };
      return active.issuer;
    },

    async issuerFor(id: string): Promise<CaIssuer> {
      const row = await getSigningKey(db, id);
      if (!row?.cert_der) throw new Error(`signing key ${id} has no certificate`);
      return issuerOf(row as PublishedKeyRow);
    },

    issuerOf,
    list: () => listSigningKeys(db),
    get: (id: string) => getSigningKey(db, id),
    trusted: () => trustedKeys(db),
    publishing: () => publishingKeys(db, clock.now()),
    invalidate,
  };
}

export type SigningKeys = ReturnType<typeof createSigningKeys>;
export type { SigningKeyRow };
