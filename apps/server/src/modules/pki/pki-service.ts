import { isPkiError, pemEncode, type ImportExternalCaInput } from '@ampora/pki';
import type { CryptoProvider } from '@ampora/keys';
import { withTenant } from '@ampora/db';
import { problems } from '../../http/problem.js';
import type { ServerContext } from '../../runtime/context.js';
import type { ApprovalActor, ApprovalsService, ApprovalView } from '../approvals/approvals-service.js';
import type { AuditContext } from '../audit/audit-recorder.js';
import { createKeyCustody, type CaKeyAlgorithm } from './ca-key-custody.js';
import { createRevocationFeed } from './revocation-feed.js';
import { createCertificateRevocation, type RevocationOutcome } from './certificate-revocation.js';
import {
  createCertificates,
  toCertificateView,
  type CertificateListQuery,
  type CertificateView,
} from './certificates-service.js';
import { createCrlPublisher } from './crl-publisher.js';
import { createOcspResponder } from './ocsp-responder.js';
import { createPkiGauges } from './pki-gauges.js';
import type { PkiMetrics } from './pki-metrics.js';
import { getCertificate, type SigningKeyRow } from './pki-queries.js';
import type { PkiSettings } from './pki-settings.js';
import type { PkiService, RevocationListener } from './pki-types.js';
import { createServerTls } from './server-tls.js';
import { createSigningKeyActivation } from './signing-key-activation.js';
import { createSigningKeyBootstrap } from './signing-key-bootstrap.js';
import { createSigningKeyDrafts } from './signing-key-drafts.js';
import { createSigningKeys } from './signing-keys-service.js';

export interface PkiDeps extends Pick<ServerContext, 'db' | 'clock' | 'ids' | 'audit' | 'keys' | 'logger'> {
  settings: PkiSettings;
  /** Generates and holds new CA keys (software today; a KMS/HSM provider slots in here). */
  provider: CryptoProvider;
  /** Holds imported CA keys, whose private key is known and therefore sealed in the database. */
  software: CryptoProvider;
  /** New keys wait as Drafts for a second Admin; see {@link Pki.activationHandler}. */
  approvals: Pick<ApprovalsService, 'request' | 'pendingFor'>;
  metrics: PkiMetrics;
}

/** A Draft key and the request that asks a second Admin to activate it. */
export interface ProposedKey {
  key: SigningKeyView;
  approval: ApprovalView;
}

export interface SigningKeyView {
  id: string;
  state: SigningKeyRow['state'];
  algorithm: string;
  keySpec: string;
  provider: string;
  source: 'generated' | 'imported';
  subject: string | null;
  fingerprint: string | null;
  notBefore: string | null;
  notAfter: string | null;
  createdAt: string;
  activatedAt: string | null;
  trustedUntil: string | null;
  retiredAt: string | null;
  certPem: string | null;
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

function keyView(r: SigningKeyRow): SigningKeyView {
  return {
    id: r.id,
    state: r.state,
    algorithm: r.algorithm,
    keySpec: r.key_spec,
    provider: r.provider,
    source: r.source,
    subject: r.subject,
    fingerprint: r.fingerprint,
    notBefore: iso(r.not_before),
    notAfter: iso(r.not_after),
    createdAt: r.created_at.toISOString(),
    activatedAt: iso(r.activated_at),
    trustedUntil: r.state === 'trusted' ? iso(r.trusted_until) : null,
    retiredAt: iso(r.retired_at),
    certPem: r.cert_der ? pemEncode(r.cert_der, 'CERTIFICATE') + r.chain_pem : null,
  };
}

/** Library refusals (bad input) become 400s; their messages never carry key material. */
function asProblem(err: unknown): never {
  if (isPkiError(err)) {
    const detail = err.code === 'bad_password' ? 'the password does not open the key' : err.message;
    throw problems.badRequest(detail);
  }
  throw err;
}

/**
 * Ampora's certificate authority: the {@link PkiService} other modules use, the operations of the
 * admin API, and what the public endpoints serve. The CA is set up lazily on first use (start-up,
 * or earlier when the OpAMP listener asks for its TLS certificate), exactly once per process.
 */
export function createPki(deps: PkiDeps) {
  const { db, logger, settings, metrics } = deps;
  const gauges = createPkiGauges({ db, logger, metrics, clock: deps.clock });
  const custody = createKeyCustody({ keys: deps.keys, provider: deps.provider, software: deps.software });
  const signingKeys = createSigningKeys({ ...deps, custody });
  const crl = createCrlPublisher({
    db,
    clock: deps.clock,
    logger,
    nextUpdateMs: settings.crlNextUpdateMs,
    issuerFor: (id) => signingKeys.issuerFor(id),
    onStored(keyId, stored) {
      metrics.crlPublished.inc();
      gauges.crlStored(keyId, stored);
    },
  });
  const ocsp = createOcspResponder({ ...deps, custody, keys: signingKeys });
  const certificates = createCertificates({ ...deps, signingKeys });
  const revocation = createCertificateRevocation(deps);
  const serverTls = createServerTls({ ...deps, signingKeys, certificates });
  const activation = createSigningKeyActivation({ ...deps, signingKeys, ocsp, crl, gauges });
  const drafts = createSigningKeyDrafts({ ...deps, custody, activation });
  const { bootstrap } = createSigningKeyBootstrap({ ...deps, drafts, signingKeys });
  const listeners: RevocationListener[] = [];
  const feed = createRevocationFeed({ db, logger });
  let readiness: Promise<void> | undefined;

  function ready(): Promise<void> {
    readiness ??= (async () => {
      await bootstrap();
      await maintain();
    })().catch((err) => {
      readiness = undefined;
      throw err;
    });
    return readiness;
  }

  /**
   * The periodic round: Trusted windows, responder renewals, CRLs due for republishing, and the
   * gauges, which also catch up with what other replicas did. The gauges are read even when a step
   * fails, so they show what is stored rather than what this round meant to store.
   */
  async function maintain(): Promise<void> {
    try {
      const retired = await signingKeys.retireLapsed();
      if (retired.length) {
        ocsp.invalidate();
        logger.info({ signingKeyIds: retired }, 'retired signing keys whose trusted window ended');
      }
      for (const key of await signingKeys.publishing()) {
        await ocsp.ensure(key);
        await crl.publishIfDue(key.id);
      }
    } finally {
      await gauges.refresh();
    }
  }

  async function afterRevocation(tenantId: string, outcome: RevocationOutcome, reason: string) {
    revocation.forgetStatus(outcome.revoked.map((r) => r.fingerprint));
    if (outcome.revoked.length) metrics.certificatesRevoked.inc({ reason }, outcome.revoked.length);
    for (const keyId of new Set(outcome.revoked.map((r) => r.signingKeyId))) {
      // The revocation is committed and OCSP already answers `revoked`; a failed publish is
      // repaired by the next scheduled round.
      await crl
        .publish(keyId)
        .catch((err) => logger.error({ err, signingKeyId: keyId }, 'CRL publish failed'));
    }
    feed.markAnnounced(
      outcome.revoked.map((r) => r.fingerprint),
      deps.clock.now(),
    );
    for (const r of outcome.revoked)
      announce({ tenantId, fingerprint: r.fingerprint, serialHex: r.serialHex });
  }

  function announce(event: Parameters<RevocationListener>[0]) {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (err) {
        logger.error({ err }, 'revocation listener failed');
      }
    }
  }

  /** Acts on revocations other replicas made: cached status is dropped and live sessions closed. */
  async function followRevocations(): Promise<number> {
    const fresh = await feed.poll();
    if (!fresh.length) return 0;
    revocation.forgetStatus(fresh.map((r) => r.fingerprint));
    for (const r of fresh) {
      if (r.tenantId) announce({ tenantId: r.tenantId, fingerprint: r.fingerprint, serialHex: r.serialHex });
    }
    logger.info({ count: fresh.length }, 'revocations made by other replicas taken in');
    return fresh.length;
  }

  const service: PkiService = {
    async signAgentCertificate(req) {
      await ready();
      return certificates.signAgentCertificate(req);
    },
    recordIssued: (tx, cert, meta) => certificates.recordIssued(tx, cert, meta),
    statusByFingerprint: (fingerprint) => revocation.statusByFingerprint(fingerprint),
    async trustBundlePem() {
      await ready();
      return signingKeys.trustBundlePem();
    },
    async localServerTls(hostnames) {
      await ready();
      return serverTls.localServerTls(hostnames);
    },
    onRevoked(listener) {
      listeners.push(listener);
    },
  };

  async function proposed(p: { id: string; approval: ApprovalView }): Promise<ProposedKey> {
    return { key: keyView((await signingKeys.get(p.id))!), approval: p.approval };
  }

  async function certificateView(tenantId: string, id: string): Promise<CertificateView> {
    const row = await withTenant(db, tenantId, (tx) => getCertificate(tx, id));
    if (!row) throw problems.notFound('certificate not found');
    return toCertificateView(row, deps.clock.now());
  }

  return {
    service,
    ready,
    maintain,
    followRevocations,
    activationHandler: activation.handler,

    // ---- admin API ----
    async listKeys(): Promise<SigningKeyView[]> {
      await ready();
      return (await signingKeys.list()).map(keyView);
    },
    async rotate(actor: ApprovalActor, algorithm?: CaKeyAlgorithm): Promise<ProposedKey> {
      await ready();
      const draft = await drafts.rotate(actor, algorithm);
      await gauges.refresh();
      return proposed(draft);
    },
    async importCa(actor: ApprovalActor, input: ImportExternalCaInput): Promise<ProposedKey> {
      await ready();
      const draft = await drafts.importCa(actor, input).catch(asProblem);
      await gauges.refresh();
      return proposed(draft);
    },
    async requestActivation(actor: ApprovalActor, id: string): Promise<ProposedKey> {
      await ready();
      return proposed(await activation.requestActivation(actor, id));
    },
    async retire(actx: AuditContext, id: string): Promise<SigningKeyView> {
      await ready();
      await signingKeys.retire(actx, id);
      ocsp.invalidate();
      await gauges.refresh();
      return keyView((await signingKeys.get(id))!);
    },
    listCertificates(tenantId: string, q: CertificateListQuery) {
      return certificates.list(tenantId, q);
    },
    async revoke(actx: AuditContext, id: string, reason: string) {
      const outcome = await revocation.revoke(actx, [id], reason, 'single');
      if (outcome.notFound.length) throw problems.notFound('certificate not found');
      if (outcome.alreadyRevoked.length) throw problems.conflict('the certificate is already revoked');
      await afterRevocation(actx.tenantId, outcome, reason);
      return certificateView(actx.tenantId, id);
    },
    async revokeMany(actx: AuditContext, ids: readonly string[], reason: string) {
      const outcome = await revocation.revoke(actx, ids, reason, 'bulk');
      await afterRevocation(actx.tenantId, outcome, reason);
      return {
        revoked: outcome.revoked.map((r) => r.id),
        alreadyRevoked: outcome.alreadyRevoked,
        notFound: outcome.notFound,
      };
    },

    // ---- public endpoints ----
    /** The stored CRL of `keyId`, or of the Active key. */
    async crl(keyId?: string) {
      await ready();
      const id = keyId ?? (await signingKeys.activeIssuer()).id;
      const current = await crl.current(id);
      if (!current) throw problems.notFound('no CRL is published for this key');
      return current;
    },
    async ocspRespond(der: Buffer) {
      await ready();
      return ocsp.respond(der);
    },
    trustBundlePem: () => service.trustBundlePem(),

    /** For tests and the benchmark hook: publish a key's CRL now. */
    publishCrl: (keyId: string) => crl.publish(keyId),
    /** The record step of issuance, returning the row id (test hooks). */
    recordCertificate: certificates.record,
  };
}

export type Pki = ReturnType<typeof createPki>;
