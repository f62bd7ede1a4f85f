/** PostgreSQL's `unique_violation`: another transaction stored the same key first. */
export function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '23505';
}
