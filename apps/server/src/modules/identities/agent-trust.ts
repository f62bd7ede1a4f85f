import { ConnectionSettingsStatuses, uuidToString } from '@ampora/opamp';
import type { AgentKeySpec } from '@ampora/pki';
import type { AgentTrust } from '../../gateway/agent-principal.js';
import type { OpampMetrics } from '../../gateway/opamp-metrics.js';
import type { ServerContext } from '../../runtime/context.js';
import type { EnrollmentService } from '../enrollment/enrollment-service.js';
import type { PkiService } from '../pki/pki-types.js';
import { createAgentEnrollment } from './agent-enrollment.js';
import { createAgentRenewal } from './agent-renewal.js';
import type { IdentityDirectory } from './identity-directory.js';
import type { CertificateOfferDeps } from './issued-credentials.js';
import { agentRefusal, type RecordRefusal } from './refusal-audit.js';

export interface AgentTrustDeps
  extends Pick<ServerContext, 'db' | 'clock' | 'ids' | 'audit' | 'logger'>, CertificateOfferDeps {
  metrics: OpampMetrics;
  pki: Pick<PkiService, 'signAgentCertificate' | 'recordIssued'>;
  enrollment: Pick<EnrollmentService, 'redeem'>;
  directory: IdentityDirectory;
  recordRefusal: RecordRefusal;
  /** Key type of the key pairs made here for agents that send no CSR. */
  serverKey: AgentKeySpec;
}

/**
 * The trust side of the OpAMP gateway: enrollment with a bootstrap token, certificate renewal (CSR
 * or server-started), the certificate every settings offer must carry, and the refusals the hub
 * reports (impersonation, settings an agent could not apply).
 */
export function createAgentTrust(deps: AgentTrustDeps): AgentTrust {
  return {
    enroll: createAgentEnrollment(deps),
    ...createAgentRenewal(deps),

    currentCertificate(identity) {
      const bundle = deps.trustBundle();
      if (!bundle) return undefined;
      return { certPem: identity.certPem, caPem: bundle };
    },

    serverCaPem: () => deps.serverCaPem(),

    isBoundUid: (tenantId, uidHex) => deps.directory.isBoundUid(tenantId, uidHex),

    impersonationRefused(admitted, claimedUidHex, boundUidHex) {
      const identity = admitted.agent.kind === 'certificate' ? admitted.agent.identity : undefined;
      const actor = identity
        ? { id: identity.fingerprint, name: `agent ${identity.agentId}` }
        : { id: admitted.agent.kind, name: `${admitted.agent.kind} agent` };
      deps.recordRefusal(
        agentRefusal(admitted, actor, {
          action: 'agent.impersonation.refused',
          entity: { type: 'agent', id: identity?.agentId ?? null },
          after: {
            claimedInstanceUid: uuidToString(Buffer.from(claimedUidHex, 'hex')),
            boundInstanceUid: boundUidHex ? uuidToString(Buffer.from(boundUidHex, 'hex')) : null,
          },
        }),
      );
    },

    settingsStatus(admitted, identity, status) {
      if (status.status !== ConnectionSettingsStatuses.ConnectionSettingsStatuses_FAILED) return;
      deps.logger.warn(
        { agent: identity.agentId, error: status.errorMessage },
        'agent could not apply offered connection settings',
      );
      deps.recordRefusal(
        agentRefusal(
          admitted,
          { id: identity.fingerprint, name: `agent ${identity.agentId}` },
          {
            action: 'agent.connection-settings.fail',
            entity: { type: 'agent', id: identity.agentId },
            after: {
              hash: Buffer.from(status.lastConnectionSettingsHash).toString('hex'),
              error: status.errorMessage.slice(0, 500),
            },
          },
        ),
      );
    },
  };
}
