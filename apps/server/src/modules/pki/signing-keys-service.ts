import {
  inspectCertificate,
  pemDecodeAll,
  pemEncode,
  prepareIssuer,
  trustBundlePem,
  type PreparedIssuer,
  type Signer,
} from '@ampora/pki';
import { DEFAULT_TENANT_ID, withTenant, type Tx } from '@ampora/db';
import { problems } from '../../http/problem.js';
import type { ServerContext } from '../../runtime/context.js';
import type { ApprovalsService } from '../approvals/approvals-service.js';
import { systemAuditContext, type AuditContext } from '../audit/audit-recorder.js';
import type { KeyCustody } from './ca-key-custody.js';
import {
  getActiveKey,
  getSigningKey,
  lapsedTrustedKeys,
  listSigningKeys,
  lockSigningKey,
  publishingKeys,
  retireKey,
  trustedKeys,
  type PublishedKeyRow,
  type SigningKeyRow,
} from './pki-queries.js';
import { SIGNING_KEY_ACTIVATION } from './signing-key-activation.js';

export interface SigningKeysDeps extends Pick<ServerContext, 'db' | 'clock' | 'audit'> {
  custody: KeyCustody;
  /** A Draft with a pending activation request cannot be retired under the approver's feet. */
  approvals: Pick<ApprovalsService, 'pendingFor'>;
}

/** A signing key ready to sign: its certificate (parsed once), the chain above it, and a signer. */
export interface CaIssuer extends PreparedIssuer {
  id: string;
  cert: Buffer;
  signer: Signer;
  /** This CA certificate and the ones above it, PEM: what a leaf's chain carries. */
  chainPem: string;
  notAfter: Date;
}

/** Replicas see another replica's rotation within this long. */
const ACTIVE_CACHE_MS = 10_000;

export const keyRefAad = (id: string) => `ca_signing_keys:key_ref:${id}`;

/**
 * The CA signing keys as they stand: the issuers that sign, the trust bundle, retirement and the
 * Trusted window. New keys are made in signing-key-drafts.ts (the first one in
 * signing-key-bootstrap.ts) and become Active through signing-key-activation.ts.
 */
export function createSigningKeys(deps: SigningKeysDeps) {
  const { db, clock, audit, custody } = deps;
  const issuers = new Map<string, CaIssuer>();
  let active: { issuer: CaIssuer; until: number } | undefined;

  function issuerOf(row: PublishedKeyRow): CaIssuer {
    const cached = issuers.get(row.id);
    if (cached && cached.cert.equals(row.cert_der)) return cached;
    const info = inspectCertificate(row.cert_der);
    const signer = custody.signer({
      keyRef: row.key_ref,
      provider: row.provider,
      algorithm: row.algorithm,
      aad: keyRefAad(row.id),
      publicKeySpkiDer: info.publicKeySpkiDer,
    });
    const issuer: CaIssuer = {
      ...prepareIssuer({ cert: row.cert_der, signer }),
      id: row.id,
      cert: row.cert_der,
      signer,
      chainPem: pemEncode(row.cert_der, 'CERTIFICATE') + row.chain_pem,
      notAfter: info.notAfter,
    };
    issuers.set(row.id, issuer);
    return issuer;
  }

  function invalidate() {
    active = undefined;
  }

  return {
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

    /** Every CA certificate of the Active and Trusted keys, with the chains above imported ones. */
    async trustBundlePem(): Promise<string> {
      const keys = await trustedKeys(db);
      return trustBundlePem(
        keys.flatMap((k) => [k.cert_der, ...pemDecodeAll(k.chain_pem).map((b) => b.der)]),
      );
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
