import { parseArgs } from 'node:util';
import { InvalidMasterKeyError } from '@ampora/keys';
import { ConfigError } from './config/index.js';
import { auditVerifyCommand } from './cli/audit-verify-command.js';
import { EXIT, UsageError } from './cli/cli-errors.js';
import { openCliRuntime, type CliRuntime } from './cli/cli-runtime.js';
import { HELP, type HelpTopic } from './cli/help.js';
import { generateMasterKeyCommand, rewrapCommand } from './cli/keys-commands.js';

type Options = Record<string, { type: 'boolean' | 'string'; short?: string }>;

interface Command {
  options: Options;
  run(values: Record<string, string | boolean | undefined>, out: (line: string) => void): Promise<number>;
}

const withRuntime = async (fn: (rt: CliRuntime) => Promise<number>) => {
  const rt = await openCliRuntime(process.env);
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
};

const COMMANDS: Record<Exclude<HelpTopic, 'root'>, Command> = {
  'audit verify': {
    options: { tenant: { type: 'string' }, json: { type: 'boolean' } },
    run: (v, out) =>
      withRuntime((rt) =>
        auditVerifyCommand(rt, { tenant: v.tenant as string | undefined, json: v.json === true }, out),
      ),
  },
  'keys rewrap': {
    options: { 'dry-run': { type: 'boolean' }, json: { type: 'boolean' } },
    run: (v, out) =>
      withRuntime((rt) => rewrapCommand(rt, { dryRun: v['dry-run'] === true, json: v.json === true }, out)),
  },
  'keys generate-master-key': {
    options: {},
    run: async (_v, out) => generateMasterKeyCommand(out),
  },
};

/** Runs one command line; returns the exit code. Exported for tests and for a packaged `ampora` bin. */
export async function runCli(argv: string[], out: (line: string) => void, err: (line: string) => void) {
  const words = argv.filter((a) => !a.startsWith('-'));
  const name = `${words[0] ?? ''} ${words[1] ?? ''}`.trim() as keyof typeof COMMANDS;
  const command = COMMANDS[name];
  const wantsHelp = argv.includes('--help') || argv.includes('-h');
  if (!command) {
    if (wantsHelp || argv.length === 0) {
      (argv.length === 0 ? err : out)(HELP.root);
      return argv.length === 0 ? EXIT.usage : EXIT.ok;
    }
    err(`ampora: unknown command "${words.join(' ')}"\n\n${HELP.root}`);
    return EXIT.usage;
  }
  if (wantsHelp) {
    out(HELP[name]);
    return EXIT.ok;
  }
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: command.options,
      allowPositionals: true,
      strict: true,
    });
    if (positionals.length !== 2)
      throw new UsageError(`unexpected argument "${positionals.slice(2).join(' ')}"`);
    return await command.run(values, out);
  } catch (e) {
    const error = e as Error & { code?: string };
    if (error instanceof UsageError || error.code?.startsWith('ERR_PARSE_ARGS')) {
      err(`ampora ${name}: ${error.message}\n\n${HELP[name]}`);
      return EXIT.usage;
    }
    if (error instanceof ConfigError || error instanceof InvalidMasterKeyError) {
      err(`ampora: invalid configuration: ${error.message}`);
      return EXIT.usage;
    }
    if (/master key/i.test(error.message)) {
      // A master key that cannot open the database (checkMasterKey) is a configuration error.
      err(`ampora: ${error.message}`);
      return EXIT.usage;
    }
    err(`ampora ${name}: ${error.message}`);
    return EXIT.failure;
  }
}

const isEntry = import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/cli.ts');
if (isEntry) {
  const code = await runCli(
    process.argv.slice(2),
    (line) => process.stdout.write(`${line}\n`),
    (line) => process.stderr.write(`${line}\n`),
  );
  process.exitCode = code;
}
