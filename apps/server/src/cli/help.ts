/** Help texts; `ampora <command> --help` prints the command's, `ampora --help` the overview. */
export const HELP = {
  root: `Usage: ampora <command> [options]

Commands:
  audit verify              Verify the audit hash chains and checkpoint signatures
  keys rewrap               Move every sealed value to the current master key
  keys generate-master-key  Print a fresh master key

Run \`ampora <command> --help\` for a command's options. Configuration is read like the server's:
AMPORA_* environment variables, DATABASE_URL, and the file named by AMPORA_CONFIG_FILE.

Exit codes: 0 success, 1 problem found, 2 usage or configuration error, 3 could not complete.`,

  'audit verify': `Usage: ampora audit verify [--tenant <id|slug>] [--json]

Recomputes the hash of every audit event (hot and archive), checks that each links to its
predecessor, and checks every signed checkpoint and the chain head. Every tenant is verified
unless --tenant names one. For each broken chain it prints the tenant, the first bad seq and
the problem.

Options:
  --tenant <id|slug>  Verify one tenant only
  --json              Print one JSON object instead of text
  -h, --help          Show this help

Exit codes: 0 every chain intact, 1 a chain is broken, 2 usage or configuration error,
3 could not complete (for example, the database is unreachable).`,

  'keys rewrap': `Usage: ampora keys rewrap [--dry-run] [--json]

After a master key rotation (AMPORA_KEY_PROTECTION_MASTER_KEY set to the new key and
AMPORA_KEY_PROTECTION_PREVIOUS_MASTER_KEY to the old one), re-wraps every sealed value in the
database under the new key, in batches, and finally the key-check canary. Values already under
the new key are left alone, so it is safe to run again. When it reports no failures, remove
AMPORA_KEY_PROTECTION_PREVIOUS_MASTER_KEY.

Options:
  --dry-run   Count what would be rewrapped; change nothing
  --json      Print one JSON report instead of text
  -h, --help  Show this help

Exit codes: 0 done, 1 some values could not be rewrapped, 2 usage or configuration error
(including master keys that cannot open the database), 3 could not complete.`,

  'keys generate-master-key': `Usage: ampora keys generate-master-key

Prints a fresh master key: base64 of 32 random bytes, for AMPORA_KEY_PROTECTION_MASTER_KEY.
It is not stored anywhere; put it in your secret store.

Options:
  -h, --help  Show this help`,
} as const;

export type HelpTopic = keyof typeof HELP;
