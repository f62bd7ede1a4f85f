/** Exit codes of every `ampora` command. */
export const EXIT = {
  ok: 0,
  /** The command ran and found a problem: a broken audit chain, a value that would not rewrap. */
  problem: 1,
  /** Wrong arguments or invalid configuration; nothing was done. */
  usage: 2,
  /** The command could not finish: database unreachable, key check failed, and the like. */
  failure: 3,
} as const;

/** Wrong arguments: the message and the command's help go to stderr, and the exit code is 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
