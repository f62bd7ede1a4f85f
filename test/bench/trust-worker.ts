/**
 * One load-generator process for the trust benchmark, driven by its parent over IPC: bootstrap
 * enrollments (CSR flow over HTTPS, one fresh TLS connection each, as a real agent would), or full
 * mutual-TLS handshakes with an enrolled certificate.
 */
import { request, type RequestOptions } from 'node:https';
import { connect as tcpConnect } from 'node:net';
import { connect, createSecureContext, type SecureContext } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { createCsr, generateAgentKey } from '@ampora/agent-sim';
import {
  AgentCapability,
  AgentToServerSchema,
  ServerToAgentSchema,
  combine,
  create,
  createUuidV7Source,
  fromBinary,
  toBinary,
} from '@ampora/opamp';

interface EnrollMsg {
  type: 'enroll';
  url: string;
  ca: string;
  tokens: string[];
  concurrency: number;
  localAddresses: string[];
}
interface HandshakeMsg {
  type: 'handshakes';
  url: string;
  ca: string;
  cert: string;
  key: string;
  uid: number[];
  durationMs: number;
  concurrency: number;
  localAddresses: string[];
  /** Also send one OpAMP poll on each connection (admission + one message), not just the handshake. */
  poll: boolean;
}

const newUid = createUuidV7Source({
  now: Date.now,
  randomBytes: (n) => crypto.getRandomValues(new Uint8Array(n)),
});
const CAPS = combine(AgentCapability.ReportsStatus, AgentCapability.AcceptsOpAMPConnectionSettings);

/**
 * One TLS context per phase, as a real agent keeps one: building it (PEM parsing, trust store)
 * costs about as much as a handshake, and on a shared machine that CPU would be taken from the
 * server. Sessions are never offered back (`agent: false`, no `session`), so every handshake is full.
 */
function clientContext(ca: string, cert?: string, key?: string): SecureContext {
  return createSecureContext({ ca, cert, key });
}

function post(
  url: URL,
  body: Uint8Array,
  tls: { context: SecureContext; localAddress?: string },
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent: false,
        secureContext: tls.context,
        localAddress: tls.localAddress,
        headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length, ...headers },
        // Passed through to tls.connect, which the typings of https.request do not say.
      } as RequestOptions & { secureContext: SecureContext },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T, i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

async function enroll(m: EnrollMsg) {
  const url = new URL(m.url);
  const context = clientContext(m.ca);
  // Agent-side work (keys, CSRs) happens before the clock starts: the figure is the server's.
  const prepared = await Promise.all(
    m.tokens.map(async (token) => {
      const uid = newUid();
      const key = await generateAgentKey('ec');
      const csr = await createCsr(uid, key);
      const body = toBinary(
        AgentToServerSchema,
        create(AgentToServerSchema, {
          instanceUid: uid,
          capabilities: CAPS,
          connectionSettingsRequest: {
            opamp: { certificateRequest: { csr: new TextEncoder().encode(csr) } },
          },
        }),
      );
      return { token, uid, key, body };
    }),
  );
  process.send!({ type: 'ready' });
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  let ok = 0;
  let failed = 0;
  let firstError: string | undefined;
  let sample: { cert: string; key: string; uid: number[] } | undefined;
  const latencies: number[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await pool(prepared, m.concurrency, async (p, i) => {
    const started = performance.now();
    try {
      const res = await post(
        url,
        p.body,
        { context, localAddress: m.localAddresses[i % m.localAddresses.length] },
        { authorization: `Bearer ${p.token}` },
      );
      const reply = res.status === 200 ? fromBinary(ServerToAgentSchema, res.body) : undefined;
      const cert = reply?.connectionSettings?.opamp?.certificate?.cert;
      if (!cert?.length) throw new Error(`HTTP ${res.status} ${reply?.errorResponse?.errorMessage ?? ''}`);
      ok++;
      latencies.push(performance.now() - started);
      sample ??= { cert: Buffer.from(cert).toString(), key: p.key.privateKeyPem, uid: [...p.uid] };
    } catch (err) {
      failed++;
      firstError ??= (err as Error).message;
    }
  });
  const used = process.cpuUsage(cpu0);
  const cpuSeconds = (used.user + used.system) / 1e6;
  process.send!({
    type: 'enrolled',
    ok,
    failed,
    firstError,
    ms: performance.now() - t0,
    latencies,
    sample,
    cpuSeconds,
  });
}

async function handshakes(m: HandshakeMsg) {
  const url = new URL(m.url);
  const port = Number(url.port);
  const context = clientContext(m.ca, m.cert, m.key);
  const body = toBinary(
    AgentToServerSchema,
    create(AgentToServerSchema, { instanceUid: new Uint8Array(m.uid), capabilities: CAPS }),
  );
  let count = 0;
  let errors = 0;
  let firstError: string | undefined;
  const deadline = performance.now() + m.durationMs;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  await Promise.all(
    Array.from({ length: m.concurrency }, async () => {
      while (performance.now() < deadline) {
        const localAddress = m.localAddresses[n++ % m.localAddresses.length];
        try {
          if (m.poll) {
            const res = await post(url, body, { context, localAddress });
            if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
          } else {
            await new Promise<void>((resolve, reject) => {
              const tcp = tcpConnect({ host: '127.0.0.1', port, localAddress });
              const socket = connect({ socket: tcp, secureContext: context });
              socket.once('secureConnect', () => {
                const resumed = socket.isSessionReused();
                socket.destroy();
                // The figure is full handshakes; a resumed session would not count as one.
                if (resumed) reject(new Error('the TLS session was resumed'));
                else resolve();
              });
              socket.once('error', reject);
            });
          }
          count++;
        } catch (err) {
          errors++;
          firstError ??= (err as Error).message;
        }
      }
    }),
  );
  const elapsedMs = performance.now() - t0;
  const used = process.cpuUsage(cpu0);
  const cpuSeconds = (used.user + used.system) / 1e6;
  process.send!({ type: 'handshakes-done', count, errors, firstError, elapsedMs, cpuSeconds });
}

process.on('message', (m: EnrollMsg | HandshakeMsg | { type: 'go' }) => {
  if (m.type === 'enroll')
    void enroll(m).catch((e: Error) => process.send!({ type: 'error', message: e.message }));
  if (m.type === 'handshakes')
    void handshakes(m).catch((e: Error) => process.send!({ type: 'error', message: e.message }));
});
