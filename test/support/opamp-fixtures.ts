import { eventually } from './eventually.js';
import type { Api } from './http.js';

/**
 * Server settings under which agents connect over plain HTTP/WS without credentials, for tests of
 * protocol duties rather than of the trust layer (enrollment and mTLS have their own tests).
 */
export const OPEN_GATEWAY_ENV = {
  AMPORA_API_INSECURE_NO_AUTH: 'true',
  AMPORA_OPAMP_REQUIRE_MTLS: 'false',
  AMPORA_OPAMP_BOOTSTRAP_PLAINTEXT_ALLOWED: 'true',
} as const;

const str = (key: string, value: string) => ({
  key,
  value: { value: { case: 'stringValue' as const, value } },
});

/**
 * An AgentDescription init shape: `service.name`, plus `service.version` and `host.name` when given.
 * Sections not asked for are left out entirely.
 */
export function agentDescription(name: string, more: { version?: string; hostName?: string } = {}) {
  return {
    identifyingAttributes: [
      str('service.name', name),
      ...(more.version === undefined ? [] : [str('service.version', more.version)]),
    ],
    ...(more.hostName === undefined ? {} : { nonIdentifyingAttributes: [str('host.name', more.hostName)] }),
  };
}

export interface AgentSummary {
  id: string;
  instanceUid: string;
  agentType: string | null;
  connected: boolean;
}

/**
 * The agent's row in `GET /api/agents`, once the gateway has written it (and, with `connected`,
 * once it shows as connected; with `where`, once the row satisfies it).
 */
export function agentByUid(
  api: Api,
  uid: string,
  options: { connected?: boolean; where?: (agent: AgentSummary) => boolean; timeoutMs?: number } = {},
): Promise<AgentSummary> {
  return eventually(async () => {
    const list = await api<{ items: AgentSummary[] }>('/api/agents?limit=500');
    const agent = list.body.items.find((a) => a.instanceUid === uid);
    if (!agent) return undefined;
    if (options.connected && !agent.connected) return undefined;
    return !options.where || options.where(agent) ? agent : undefined;
  }, options.timeoutMs);
}
