import { withTenant, type Tx } from '@ampora/db';
import { problems } from '../../http/problem.js';
import type { ServerContext } from '../../runtime/context.js';
import type {
  ApprovalActor,
  ApprovalHandler,
  ApprovalsService,
  ApprovalView,
} from '../approvals/approvals-service.js';
import type { AuditContext } from '../audit/audit-recorder.js';
import type { CrlPublisher } from './crl-publisher.js';
import type { OcspResponder } from './ocsp-responder.js';
import type { PkiGauges } from './pki-gauges.js';
import { activateKey, lockSigningKey } from './pki-queries.js';
import type { PkiSettings } from './pki-settings.js';
import type { SigningKeys } from './signing-keys-service.js';

export interface SigningKeyActivationDeps extends Pick<ServerContext, 'db' | 'clock' | 'audit'> {
  settings: PkiSettings;
  approvals: Pick<ApprovalsService, 'request'>;
  signingKeys: Pick<SigningKeys, 'invalidate' | 'publishing'>;
  ocsp: Pick<OcspResponder, 'invalidate' | 'ensure'>;
  crl: Pick<CrlPublisher, 'publish'>;
  gauges: Pick<PkiGauges, 'refresh'>;
}

/** The approval kind under which a Draft key waits for a second Admin before it becomes Active. */
export const SIGNING_KEY_ACTIVATION = 'pki.signing-key.activate';

/** A signing key as far as its activation request and its audit events describe it. */
interface ActivationSubject {
  id: string;
  source: string;
  key_spec: string;
  algorithm: string;
  provider: string;
  subject: string | null;
  fingerprint: string | null;
  not_before: Date | null;
  not_after: Date | null;
}

/** What an approver is shown: the certificate that the key will sign under. */
function activationSummary(row: ActivationSubject) {
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

/** What every audit event that makes or activates a key records of it: which certificate it is. */
export function keyAuditFacts(row: ActivationSubject) {
  return {
    subject: row.subject,
    fingerprint: row.fingerprint,
    keySpec: row.key_spec,
    provider: row.provider,
    source: row.source,
    notAfter: row.not_after,
  };
}

/**
 * The four-eyes path from Draft to Active: the request a second Admin decides, and what an
 * approval does. Every key after the first takes this path (see signing-key-bootstrap.ts for the
 * first).
 */
export function createSigningKeyActivation(deps: SigningKeyActivationDeps) {
  const { db, clock, audit, settings, signingKeys, ocsp, crl, gauges } = deps;

  /** Opens the activation request of the Draft key `id` in the caller's transaction. */
  function request(tx: Tx, actor: ApprovalActor, id: string, row: ActivationSubject): Promise<ApprovalView> {
    return deps.approvals.request(tx, actor, {
      kind: SIGNING_KEY_ACTIVATION,
      entity: { type: 'signing-key', id },
      summary: activationSummary(row),
    });
  }

  /**
   * The approved activation, in the approval's transaction: the Draft becomes Active and the
   * current Active key Trusted. 409 when the key is no longer a Draft or its certificate has
   * expired meanwhile.
   */
  async function applyActivation(tx: Tx, id: string, actx: AuditContext, approvalId: string) {
    const row = await lockSigningKey(tx, id);
    if (!row) throw problems.conflict('the signing key no longer exists');
    if (row.state !== 'draft') throw problems.conflict(`the signing key is ${row.state}, no longer a Draft`);
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
        ...keyAuditFacts(row),
        approvalRequestId: approvalId,
        previousKey: previous ? { id: previous, state: 'trusted', trustedUntil } : null,
      },
    });
  }

  /**
   * A new Active key gets its responder and its first CRL before the approval call returns. The
   * gauges follow the committed activation even when either step fails.
   */
  async function afterActivation(keyId: string) {
    signingKeys.invalidate();
    ocsp.invalidate();
    try {
      const key = (await signingKeys.publishing()).find((k) => k.id === keyId);
      if (!key) return;
      await ocsp.ensure(key);
      await crl.publish(keyId);
    } finally {
      await gauges.refresh();
    }
  }

  /**
   * Registered with the approvals module: an approved request makes its Draft key Active (the
   * previous Active key becomes Trusted) in the approval's transaction; the responder certificate
   * and first CRL follow once it has committed, as signing stays outside transactions.
   */
  const handler: ApprovalHandler = {
    kind: SIGNING_KEY_ACTIVATION,
    decideAction: 'pki:keys:approve',
    apply: (tx, request, actx) => applyActivation(tx, request.entity.id, actx, request.id),
    afterApply: (request) => afterActivation(request.entity.id),
  };

  return {
    request,

    /** Asks again for a Draft key whose earlier request was rejected, cancelled or expired. */
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
        return request(tx, actor, id, row);
      });
      return { id, approval };
    },

    handler,
  };
}

export type SigningKeyActivation = ReturnType<typeof createSigningKeyActivation>;
