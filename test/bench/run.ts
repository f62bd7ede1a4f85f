/**
 * `npm run bench -- <name> [--flag value …]`: runs one benchmark, prints its figures and their
 * ratio to the goals the issues set. Each benchmark stops by itself.
 */
export {};

interface Bench {
  run(args: Record<string, string>): Promise<void>;
}

const BENCHES = ['opamp', 'audit', 'trust'];

function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const [k, v] = a.slice(2).split('=', 2);
    out[k!] = v ?? (argv[i + 1] && !argv[i + 1]!.startsWith('--') ? argv[++i]! : 'true');
  }
  return out;
}

const [benchName, ...rest] = process.argv.slice(2);
if (!benchName || !BENCHES.includes(benchName)) {
  console.error(`usage: npm run bench -- <${BENCHES.join('|')}> [--option value]`);
  process.exit(2);
}
const bench = (await import(`./${benchName}.js`)) as Bench;
await bench.run(parseArgs(rest));
process.exit(0);
