import type { Role } from './roles.js';

/** Who is acting: an operator, a personal access token, an agent, a federation peer, or a server job. */
export type PrincipalKind = 'user' | 'pat' | 'agent' | 'peer' | 'system';

export interface ActionRule {
  /** The lowest role that may perform the action in its own tenant. */
  readonly minRole: Role;
  /** The principal kinds the action is open to; any other kind is denied whatever its role. */
  readonly principals: readonly PrincipalKind[];
  /**
   * `installation`: the action changes what every tenant relies on (the CA's signing keys, key
   * custody, the tenants themselves), so only principals of the installation's own tenant may
   * take it, whatever their role elsewhere.
   */
  readonly scope?: 'installation';
}

/** Operators, their tokens and server jobs act through the management API. */
const OPERATORS: readonly PrincipalKind[] = ['user', 'pat', 'system'];
/** Federation peers only ever reach the read-only federation API. */
const PEERS: readonly PrincipalKind[] = ['peer'];

const viewer: ActionRule = { minRole: 'viewer', principals: OPERATORS };
const operator: ActionRule = { minRole: 'operator', principals: OPERATORS };
const admin: ActionRule = { minRole: 'admin', principals: OPERATORS };
const installationAdmin: ActionRule = { minRole: 'admin', principals: OPERATORS, scope: 'installation' };

/**
 * Every action the server authorizes, with the lowest role that may perform it. An action missing
 * from this table is denied (default deny), so a new route must add its action here.
 *
 * How the roles split:
 * - Viewer reads everything in the fleet, including agent details, configuration diffs, and the hot
 *   audit trail (agent detail shows the last audit events). Reads of identity administration (PATs,
 *   users, role mappings) are Admin-only: they describe who may do what, not the fleet.
 * - Operator authors and publishes configurations, manages groups, runs and controls rollouts,
 *   moves, tags, drains and pushes to agents, and issues or revokes bootstrap tokens and token
 *   pools. Revoking an agent's certificate is Operator too: it is the undo of enrolling an agent,
 *   which an Operator can already do with a bootstrap token, and it only ever removes access.
 * - Admin handles the things that change who is trusted: PKI signing keys and their activation,
 *   HSM/KMS providers, emergency rotations, GitOps sources, policies and their approval, lint
 *   rules, tenant settings, federation peers, identity mappings, users, PATs, and the audit archive.
 * - The CA's signing keys, key custody and the tenants themselves are shared by every tenant: only
 *   Admins of the installation's own tenant manage them (`scope: 'installation'`).
 */
export const ACTIONS = {
  // Fleet
  'agents:read': viewer,
  'agents:export': viewer,
  'agents:move': operator,
  'agents:tag': operator,
  'agents:drain': operator,
  'agents:push': operator,
  // Configurations, groups, rollouts
  'configurations:read': viewer,
  'configurations:write': operator,
  'configurations:publish': operator,
  'configurations:archive': operator,
  'groups:read': viewer,
  'groups:write': operator,
  'rollouts:read': viewer,
  'rollouts:write': operator,
  'rollouts:control': operator,
  // Enrollment
  'tokens:read': viewer,
  'tokens:write': operator,
  'token-pools:read': viewer,
  'token-pools:write': operator,
  // PKI and key custody
  'pki:read': viewer,
  'pki:certs:revoke': operator,
  'pki:certs:renew': operator,
  'pki:keys:write': installationAdmin,
  'pki:keys:activate': installationAdmin,
  'pki:keys:approve': installationAdmin,
  'pki:emergency-rotate': installationAdmin,
  'kms:read': viewer,
  'kms:write': installationAdmin,
  // Governance
  'policies:read': viewer,
  'policies:write': admin,
  'policies:approve': admin,
  'lint-rules:read': viewer,
  'lint-rules:write': admin,
  'gitops:read': viewer,
  'gitops:write': admin,
  // Approvals (four eyes): the second person's decision on a change that needs one (activating a
  // signing key today). Requests are made by the action that changes the entity (e.g.
  // pki:keys:write); these cover the queue itself, and cancelling is for the requester only.
  'approvals:read': admin,
  'approvals:decide': admin,
  'approvals:cancel': admin,
  // Tenancy and identity
  'tenants:read': viewer,
  'tenants:write': installationAdmin,
  // Every signed-in operator and token may see who it is (`GET /api/me`).
  'auth:self:read': viewer,
  'auth:users:read': admin,
  'auth:users:write': admin,
  'auth:pats:read': admin,
  'auth:pats:write': admin,
  'auth:role-mappings:read': admin,
  'auth:role-mappings:write': admin,
  // Audit
  'audit:read': viewer,
  'audit:verify': admin,
  'audit:archive:read': admin,
  'audit:archive:write': admin,
  // Federation: managing peers is an operator concern; the peer API is for peers alone.
  'federation:peers:read': viewer,
  'federation:peers:write': admin,
  'federation:peers:approve': admin,
  'federation:api:read': { minRole: 'viewer', principals: PEERS },
} as const satisfies Record<string, ActionRule>;

export type Action = keyof typeof ACTIONS;

export function isKnownAction(action: string): action is Action {
  return Object.hasOwn(ACTIONS, action);
}

/** The rule for an action, or undefined when the action is unknown. */
export function ruleFor(action: string): ActionRule | undefined {
  return isKnownAction(action) ? ACTIONS[action] : undefined;
}
