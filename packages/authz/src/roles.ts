/** The three per-tenant roles, lowest first. Each role includes everything the roles below it may do. */
export const ROLES = ['viewer', 'operator', 'admin'] as const;

export type Role = (typeof ROLES)[number];

const RANK: Readonly<Record<Role, number>> = { viewer: 0, operator: 1, admin: 2 };

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && Object.hasOwn(RANK, value);
}

/** Rank of a role: a higher number grants more. */
export function roleRank(role: Role): number {
  return RANK[role];
}

/** True when `held` is at least `required`. */
export function roleAtLeast(held: Role, required: Role): boolean {
  return RANK[held] >= RANK[required];
}

/** The highest role in a list, or undefined for an empty list. */
export function highestRole(roles: Iterable<Role>): Role | undefined {
  let best: Role | undefined;
  for (const role of roles) {
    if (best === undefined || RANK[role] > RANK[best]) best = role;
  }
  return best;
}

/**
 * Parses a role name as identity providers spell it ("Admin", "OPERATOR", " viewer ").
 * Anything else is undefined, never a default role: an unknown name must not grant access.
 */
export function parseRole(name: unknown): Role | undefined {
  if (typeof name !== 'string') return undefined;
  const normalized = name.trim().toLowerCase();
  return isRole(normalized) ? normalized : undefined;
}
