import type { FastifyInstance } from 'fastify';
import { createSoftwareProvider } from '@ampora/keys';
import type { ServerContext, ServerModule } from '../../runtime/context.js';
import type { ApprovalsService } from '../approvals/approvals-service.js';
import { pkiPublicRoutes } from './pki-public-routes.js';
import { createPkiMetrics } from './pki-metrics.js';
import { pkiRoutes } from './pki-routes.js';
import { createPki, type Pki } from './pki-service.js';
import { pkiSettings } from './pki-settings.js';
import { pkiTestRoutes } from './pki-test-routes.js';
import type { PkiService } from './pki-types.js';

export interface PkiModule extends ServerModule {
  /** For other modules (enrollment, the OpAMP gateway): issue, record, look up, subscribe. */
  service: PkiService;
  pki: Pki;
}

/** How often the maintenance round runs; CRLs are republished well before their nextUpdate. */
const MAX_ROUND_MS = 60_000;

export function pkiModule(ctx: ServerContext, deps: { approvals: ApprovalsService }): PkiModule {
  // The software provider seals keys through the key protector. Its own wrapKey/unwrapKey (which
  // is what its `master` is for) is never used here, so it gets a derived key rather than the
  // master key itself. A KMS/HSM provider, once configured, takes the `provider` slot.
  const software = createSoftwareProvider({
    master: ctx.keys.deriveSecret('pki-software-provider'),
    protector: ctx.keys,
  });
  const settings = pkiSettings(ctx.config, ctx.httpPort);
  const pki = createPki({
    ...ctx,
    logger: ctx.logger.child({ component: 'pki' }),
    settings,
    provider: software,
    software,
    approvals: deps.approvals,
    metrics: createPkiMetrics(ctx.metrics),
  });
  // Activating a signing key needs a second Admin: the approvals module calls back here.
  deps.approvals.register(pki.activationHandler);
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<void> | undefined;
  let feedTimer: NodeJS.Timeout | undefined;
  let feedRead: Promise<unknown> | undefined;

  return {
    name: 'pki',
    service: pki.service,
    pki,
    async routes(app: FastifyInstance) {
      await app.register(pkiPublicRoutes(pki));
      await app.register(pkiRoutes(pki, deps.approvals));
      if (ctx.config.testHooks.enabled) await app.register(pkiTestRoutes(pki, ctx.db));
    },
    async start() {
      await pki.ready();
      const every = Math.min(MAX_ROUND_MS, settings.crlNextUpdateMs / 6);
      timer = setInterval(() => {
        if (round) return; // the previous round is still running
        round = pki
          .maintain()
          .catch((err) => ctx.logger.error({ err }, 'PKI maintenance round failed'))
          .finally(() => {
            round = undefined;
          });
      }, every);
      timer.unref();
      // Every replica reads the others' revocations; there is nothing to lead here.
      await pki.followRevocations();
      feedTimer = setInterval(() => {
        if (feedRead) return;
        feedRead = pki
          .followRevocations()
          .catch((err) => ctx.logger.error({ err }, 'reading revocations of other replicas failed'))
          .finally(() => {
            feedRead = undefined;
          });
      }, settings.revocationPollMs);
      feedTimer.unref();
    },
    async stop() {
      clearInterval(timer);
      clearInterval(feedTimer);
      await round;
      await feedRead;
    },
  };
}
