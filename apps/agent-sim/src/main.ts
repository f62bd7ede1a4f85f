/**
 * Command line for the OpAMP agent simulator: `npm run sim -- --help`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { uuidFromString, uuidToString } from '@ampora/opamp';
import {
  credentialsOf,
  loopbackAddresses,
  startFleet,
  type AgentCredentials,
  type ApplyMode,
  type KeyType,
  type SimAgent,
  type TransportKind,
} from './index';

const HELP = `Usage: npm run sim -- [options]

Runs one or more simulated OpAMP agents against a server until interrupted.

Connection
  --url <url>               OpAMP endpoint; ws(s):// or http(s):// (default ws://127.0.0.1:4320/v1/opamp)
  --transport <ws|http>     Override the transport inferred from the URL
  --header "Name: value"    Extra request header, repeatable (e.g. "Authorization: Bearer …")
  --ca <file>               PEM CA bundle to trust
  --cert <file>             PEM client certificate (mTLS)
  --key <file>              PEM client private key (mTLS)
  --insecure                Do not verify the server certificate (tests only)
  --uid <uuid>              Instance uid (one agent; e.g. the one bound to --cert)

Enrollment
  --token <amp-bs.…>        Enroll with this bootstrap token, then reconnect with mTLS
  --csr                     Use the CSR flow (the key never leaves the agent); default: server-made key
  --key-type <ec|rsa>       Key type for CSRs (default ec, P-256)
  --renew-at <fraction>     CSR agents request a new certificate after this fraction of its life (default 0.667)
  --save-credentials <dir>  Write cert.pem, key.pem, ca.pem and uid there whenever credentials change (one agent)
  --gzip                    HTTP: gzip request bodies and accept gzip replies

Fleet
  --count <n>               Number of agents (default 1)
  --stagger-ms <ms>         Delay between agent starts (default 10)
  --source-addresses <n>    Rotate source addresses 127.0.0.1..127.0.0.<n>

Behaviour
  --apply-mode <apply|fail> How remote configs are handled (default apply)
  --apply-delay-ms <ms>     Time spent "applying" a config (default 0)
  --heartbeat <seconds>     Local heartbeat/poll interval until the server offers one (default 30)
  --request-uid             Ask the server to assign instance uids
  --duration <seconds>      Stop after this long (default: run until Ctrl-C)
  --stats-every <seconds>   Print a latency summary this often (default 10; 0 = only at exit)
  -h, --help                Show this help
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', default: 'ws://127.0.0.1:4320/v1/opamp' },
      transport: { type: 'string' },
      header: { type: 'string', multiple: true, default: [] },
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      insecure: { type: 'boolean', default: false },
      uid: { type: 'string' },
      token: { type: 'string' },
      csr: { type: 'boolean', default: false },
      'key-type': { type: 'string', default: 'ec' },
      'renew-at': { type: 'string' },
      'save-credentials': { type: 'string' },
      gzip: { type: 'boolean', default: false },
      count: { type: 'string', default: '1' },
      'stagger-ms': { type: 'string', default: '10' },
      'source-addresses': { type: 'string' },
      'apply-mode': { type: 'string', default: 'apply' },
      'apply-delay-ms': { type: 'string', default: '0' },
      heartbeat: { type: 'string', default: '30' },
      'request-uid': { type: 'boolean', default: false },
      duration: { type: 'string' },
      'stats-every': { type: 'string', default: '10' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const num = (name: string, v: string | undefined) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < 0)
      throw new Error(`--${name} must be a non-negative number`);
    return n;
  };
  const transport = values.transport === undefined ? undefined : parseTransport(values.transport);
  const applyMode = values['apply-mode'];
  if (applyMode !== 'apply' && applyMode !== 'fail') throw new Error('--apply-mode must be apply or fail');
  const headers = Object.fromEntries(
    values.header.map((h) => {
      const i = h.indexOf(':');
      if (i <= 0) throw new Error(`--header must look like "Name: value", got ${h}`);
      return [h.slice(0, i).trim(), h.slice(i + 1).trim()];
    }),
  );
  const read = (file: string | undefined) => (file ? readFileSync(file) : undefined);
  const keyType = values['key-type'];
  if (keyType !== 'ec' && keyType !== 'rsa') throw new Error('--key-type must be ec or rsa');
  const count = num('count', values.count);
  if ((values.uid || values['save-credentials']) && count !== 1)
    throw new Error('--uid and --save-credentials need --count 1');
  return run({
    uid: values.uid ? uuidFromString(values.uid) : undefined,
    token: values.token,
    csr: values.csr,
    keyType,
    renewAt: values['renew-at'] === undefined ? undefined : num('renew-at', values['renew-at']),
    saveCredentials: values['save-credentials'],
    url: values.url,
    transport,
    headers,
    tls: {
      ca: read(values.ca),
      cert: read(values.cert),
      key: read(values.key),
      rejectUnauthorized: !values.insecure,
    },
    gzip: values.gzip,
    count,
    staggerMs: num('stagger-ms', values['stagger-ms']),
    sourceAddresses: values['source-addresses']
      ? num('source-addresses', values['source-addresses'])
      : undefined,
    applyMode: applyMode as ApplyMode,
    applyDelayMs: num('apply-delay-ms', values['apply-delay-ms']),
    heartbeat: num('heartbeat', values.heartbeat),
    requestUid: values['request-uid'],
    durationS: values.duration === undefined ? undefined : num('duration', values.duration),
    statsEveryS: num('stats-every', values['stats-every']),
  });
}

function parseTransport(value: string): TransportKind {
  if (value === 'ws' || value === 'websocket') return 'websocket';
  if (value === 'http') return 'http';
  throw new Error('--transport must be ws or http');
}

interface RunOptions {
  uid: Uint8Array | undefined;
  token: string | undefined;
  csr: boolean;
  keyType: KeyType;
  renewAt: number | undefined;
  saveCredentials: string | undefined;
  url: string;
  transport: TransportKind | undefined;
  headers: Record<string, string>;
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean };
  gzip: boolean;
  count: number;
  staggerMs: number;
  sourceAddresses: number | undefined;
  applyMode: ApplyMode;
  applyDelayMs: number;
  heartbeat: number;
  requestUid: boolean;
  durationS: number | undefined;
  statsEveryS: number;
}

/** Keeps the agent's current credentials on disk, so a later run can connect with them. */
function saveOnChange(agent: SimAgent, dir: string) {
  agent.on('credentials', (c: AgentCredentials) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'cert.pem'), c.certPem);
    writeFileSync(path.join(dir, 'key.pem'), c.keyPem, { mode: 0o600 });
    writeFileSync(path.join(dir, 'ca.pem'), c.caPem);
    writeFileSync(path.join(dir, 'uid'), uuidToString(agent.instanceUid));
    console.log(
      `credentials saved to ${dir} (certificate ${c.fingerprint.slice(0, 16)}…, until ${c.notAfter.toISOString()})`,
    );
  });
}

async function run(o: RunOptions): Promise<void> {
  console.log(`starting ${o.count} agent(s) against ${o.url}`);
  const fleet = await startFleet({
    url: o.url,
    transport: o.transport,
    headers: o.headers,
    tls: o.tls,
    gzip: o.gzip,
    count: o.count,
    staggerMs: o.staggerMs,
    localAddresses: o.sourceAddresses ? loopbackAddresses(o.sourceAddresses) : undefined,
    applyMode: o.applyMode,
    applyDelayMs: o.applyDelayMs,
    heartbeatIntervalSeconds: o.heartbeat,
    requestInstanceUid: o.requestUid,
    bootstrapToken: o.token,
    // Saved credentials: known as such, so a re-offer of the same certificate is not a switch.
    credentials:
      o.tls.cert && o.tls.key
        ? credentialsOf(o.tls.cert.toString(), o.tls.key.toString(), o.tls.ca?.toString() ?? '', 'server')
        : undefined,
    csr: o.csr,
    keyType: o.keyType,
    renewAtFraction: o.renewAt,
    perAgent: o.uid ? () => ({ instanceUid: o.uid }) : undefined,
    onCreated: o.saveCredentials ? (agent) => saveOnChange(agent, o.saveCredentials!) : undefined,
  });
  for (const f of fleet.failures) console.error(`agent ${f.index} failed to start: ${f.error.message}`);
  console.log(`${fleet.agents.length - fleet.failures.length}/${o.count} agent(s) connected`);
  if (o.count === 1 && fleet.failures.length === 0) {
    const agent = fleet.agents[0]!;
    console.log(`instance uid ${uuidToString(agent.instanceUid)}`);
    agent.on('remoteConfig', ({ status }) =>
      console.log(`remote config ${status.status === 1 ? 'applied' : 'failed'}`),
    );
    agent.on('instanceUidChanged', ({ current }) => console.log(`new instance uid ${uuidToString(current)}`));
    agent.on('serverError', (e) => console.error(`server error: ${e.errorMessage}`));
    agent.on('command', () => console.log('restart command received'));
  }
  const printStats = () => {
    const s = fleet.latency.summary();
    const f = (n: number) => n.toFixed(2);
    console.log(
      `round trips ${s.count}: p50 ${f(s.p50)} ms, p90 ${f(s.p90)} ms, p99 ${f(s.p99)} ms, max ${f(s.max)} ms`,
    );
  };
  const stats = o.statsEveryS > 0 ? setInterval(printStats, o.statsEveryS * 1000) : undefined;
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    if (o.durationS !== undefined) setTimeout(resolve, o.durationS * 1000);
  });
  clearInterval(stats);
  console.log('stopping (sending agent_disconnect)…');
  await fleet.stop();
  printStats();
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err.message);
    process.exit(1);
  },
);
