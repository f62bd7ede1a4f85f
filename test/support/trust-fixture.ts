import {
  createSimAgent,
  type AgentCredentials,
  type SimAgent,
  type SimAgentOptions,
} from '@ampora/agent-sim';
import { apiOf, jsonPost, type Api } from './http.js';
import { wsUpgrade } from './raw-opamp.js';
import { startServerProcess, type ReplicaOf, type ServerProcess } from './server-process.js';

/**
 * A server with its OpAMP listener on TLS, as the trust tests use it: the operator API open (local
 * development), agent state flushed quickly, and simulated agents that trust Ampora's CA and are
 * all stopped at the end.
 */
export interface TrustServer {
  server: ServerProcess;
  api: Api;
  trustBundle: string;
  wssUrl: string;
  httpsUrl: string;
  /** A simulated agent trusting Ampora's CA; it is stopped by `stop()`. */
  sim(options: Partial<SimAgentOptions>): SimAgent;
  /** Starts the agent and resolves with the first credentials it runs on (it enrolls as it starts). */
  enroll(agent: SimAgent): Promise<AgentCredentials>;
  /** One WebSocket handshake with these client credentials: 101 when admitted, else the refusal's status. */
  handshake(creds: { certPem: string; keyPem: string }): Promise<number>;
  /** A fresh bootstrap token from the REST API. */
  issueToken(label?: string, extra?: Record<string, unknown>): Promise<string>;
  stop(): Promise<void>;
}

export async function startTrustServer(
  env: Record<string, string> = {},
  replicaOf?: ReplicaOf,
): Promise<TrustServer> {
  const server = await startServerProcess(
    {
      AMPORA_API_INSECURE_NO_AUTH: 'true',
      AMPORA_OPAMP_FLUSH_INTERVAL_MS: '50',
      ...env,
    },
    replicaOf,
  );
  const api = apiOf(() => server);
  const trustBundle = await (await fetch(`${server.httpUrl}/pki/trust-bundle.pem`)).text();
  const wssUrl = `wss://127.0.0.1:${server.opampPort}/v1/opamp`;
  const agents: SimAgent[] = [];
  return {
    server,
    api,
    trustBundle,
    wssUrl,
    httpsUrl: `https://127.0.0.1:${server.opampPort}/v1/opamp`,
    sim(options) {
      const agent = createSimAgent({
        url: wssUrl,
        reconnect: false,
        replyTimeoutMs: 10_000,
        ...options,
        tls: { ca: trustBundle, ...options.tls },
      });
      agents.push(agent);
      return agent;
    },
    async enroll(agent) {
      const credentials = new Promise<AgentCredentials>((resolve) => agent.once('credentials', resolve));
      await agent.start();
      return credentials;
    },
    async handshake(creds) {
      const upgrade = await wsUpgrade(wssUrl, { ca: trustBundle, cert: creds.certPem, key: creds.keyPem });
      upgrade.ws?.close();
      return upgrade.status;
    },
    async issueToken(label = 'e2e', extra = {}) {
      const res = await api('/api/enrollment/tokens', jsonPost({ label, ...extra }));
      if (res.status !== 201) throw new Error(`token issue failed with ${res.status}`);
      return res.body.token as string;
    },
    async stop() {
      await Promise.all(agents.map((a) => a.stop({ graceful: false }).catch(() => undefined)));
      await server.stop();
    },
  };
}
