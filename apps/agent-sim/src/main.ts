/**
 * Command line for the OpAMP agent simulator: `npm run sim -- --help`.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { uuidToString } from '@ampora/opamp';
import { loopbackAddresses, startFleet, type ApplyMode, type TransportKind } from './index';

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
  return run({
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
    count: num('count', values.count),
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
