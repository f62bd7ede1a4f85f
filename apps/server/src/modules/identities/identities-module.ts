import type { AgentKeySpec } from '@ampora/pki';
import type { Config } from '../../config/index.js';
import type { ServerContext, ServerModule } from '../../runtime/context.js';
import { opampEndpoint } from '../../runtime/gateway.js';
import type { EnrollmentService } from '../enrollment/enrollment-service.js';
import type { PkiService } from '../pki/pki-types.js';
import { createAgentAdmission } from './agent-admission.js';
import { createAgentTrust } from './agent-trust.js';
import { createIdentityDirectory } from './identity-directory.js';
import { createOpampTls } from './opamp-tls.js';
import { createRefusalAudit } from './refusal-audit.js';

export interface IdentitiesModuleDeps {
  pki: PkiService;
  enrollment: EnrollmentService;
}

function serverKeySpec(config: Config): AgentKeySpec {
  return config.enrollment.serverKeyType === 'rsa-2048'
    ? { type: 'rsa', bits: 2048 }
    : { type: 'ec', curve: 'P-256' };
}

/**
 * Agent identity at the OpAMP endpoint: takes over admission (client certificate, bootstrap token)
 * and the listener (TLS with an optional client certificate), joins the hub for enrollment,
 * renewal and uid binding, and closes live sessions whose certificate is revoked or superseded.
 */
export function identitiesModule(ctx: ServerContext, deps: IdentitiesModuleDeps): ServerModule {
  const { config } = ctx;
  const logger = ctx.logger.child({ component: 'identities' });
  const plaintext = config.opamp.bootstrapPlaintextAllowed;
  const metrics = ctx.hub.metrics;
  const tls = createOpampTls({ config, logger, pki: deps.pki });
  const directory = createIdentityDirectory({
    db: ctx.db,
    clock: ctx.clock,
    audit: ctx.audit,
    cacheMs: config.ca.statusCacheSeconds * 1000,
  });
  const recordRefusal = createRefusalAudit({ db: ctx.db, clock: ctx.clock, audit: ctx.audit, logger });

  const authenticateAgent = createAgentAdmission({
    clock: ctx.clock,
    logger,
    metrics,
    pki: deps.pki,
    enrollment: deps.enrollment,
    directory,
    recordRefusal,
    requireMtls: config.opamp.requireMtls,
    plaintextAllowed: plaintext,
    renewAtFraction: config.enrollment.renewAtFraction,
    onSuperseded: (_tenantId, fingerprints) => {
      for (const fp of fingerprints) ctx.hub.closeCredential(fp, 'certificate superseded by its renewal');
    },
  });

  ctx.hub.attachTrust(
    createAgentTrust({
      db: ctx.db,
      clock: ctx.clock,
      ids: ctx.ids,
      audit: ctx.audit,
      logger,
      metrics,
      pki: deps.pki,
      enrollment: deps.enrollment,
      directory,
      recordRefusal,
      endpoint: (transport) => opampEndpoint(config, transport, ctx.opampPort(), !plaintext),
      heartbeatIntervalSeconds: config.opamp.heartbeatIntervalSeconds,
      serverKey: serverKeySpec(config),
      trustBundle: tls.trustBundle,
      serverCaPem: () => (plaintext ? undefined : tls.serverCaPem()),
    }),
  );

  deps.pki.onRevoked(({ tenantId, fingerprint }) => {
    directory.invalidate(tenantId, fingerprint);
    const closed = ctx.hub.closeCredential(fingerprint, 'certificate revoked');
    if (closed) logger.info({ tenantId, fingerprint, closed }, 'closed sessions of a revoked certificate');
  });

  return {
    name: 'identities',
    authenticateAgent,
    ...(plaintext ? {} : { opampServer: () => tls.createServer() }),
    async start() {
      if (plaintext) await tls.watchBundle();
    },
    stop() {
      tls.stop();
    },
  };
}
