import {
  createCaCertificate,
  importExternalCa,
  inspectCertificate,
  pemEncode,
  type ImportExternalCaInput,
} from '@ampora/pki';
import { withTenant, type Tx } from '@ampora/db';
import type { ServerContext } from '../../runtime/context.js';
import type { ApprovalActor, ApprovalView } from '../approvals/approvals-service.js';
import type { AuditContext } from '../audit/audit-recorder.js';
import type { CaKeyAlgorithm, KeyCustody, NewKey } from './ca-key-custody.js';
import { insertSigningKey, setKeyCertificate } from './pki-queries.js';
import type { PkiSettings } from './pki-settings.js';
import { keyAuditFacts, type SigningKeyActivation } from './signing-key-activation.js';
import { keyRefAad } from './signing-keys-service.js';

export interface SigningKeyDraftsDeps extends Pick<ServerContext, 'db' | 'clock' | 'ids' | 'audit'> {
  custody: KeyCustody;
  settings: PkiSettings;
  activation: Pick<SigningKeyActivation, 'request'>;
}

const HOUR_MS = 3_600_000;

/** A signing key with its certificate, as it is stored before it becomes Active. */
export interface CaRow {
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

/** Stores the CA certificate of a key whose row generation has already inserted. */
export function storeCaCertificate(tx: Tx, row: CaRow) {
  return setKeyCertificate(tx, row.id, {
    der: row.cert_der,
    subject: row.subject,
    fingerprint: row.fingerprint,
    notBefore: row.not_before,
    notAfter: row.not_after,
  });
}

/**
 * New signing keys, generated or imported, each stored as a Draft awaiting a second Admin. Key
 * generation and signing happen before the transaction that records their result. A Draft key
 * signs exactly one thing, its own CA certificate when it is generated, so the approver sees the
 * certificate they approve; nothing looks for an issuer among Draft keys.
 */
export function createSigningKeyDrafts(deps: SigningKeyDraftsDeps) {
  const { db, clock, ids, audit, custody, settings } = deps;

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
        await storeCaCertificate(tx, row);
      } else {
        await insertSigningKey(tx, { ...row, state: 'draft' });
      }
      const request = await deps.activation.request(tx, actor, row.id, row);
      await audit.record(tx, actor.audit, {
        action,
        entity: { type: 'signing-key', id: row.id },
        after: {
          state: 'draft',
          ...keyAuditFacts(row),
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
      fingerprint: info.fingerprintSha256,
      chain_pem: '',
      not_before: info.notBefore,
      not_after: info.notAfter,
    };
  }

  return {
    generateCa,

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
  };
}

export type SigningKeyDrafts = ReturnType<typeof createSigningKeyDrafts>;
