import { ruleFor } from './actions.js';
import type { PrincipalKind } from './actions.js';
import { endpointAllowed } from './endpoints.js';
import { roleAtLeast } from './roles.js';
import type { Role } from './roles.js';

/** An authenticated caller, as the API, the gateway and the CLI build it after authentication. */
export interface Principal {
  readonly kind: PrincipalKind;
  readonly id: string;
  /** Shown in audit events; for a PAT this is the token's name. */
  readonly name: string;
  readonly tenantId: string;
  readonly role: Role;
  /**
   * Only for PATs: `METHOD /path` patterns the token is limited to. Undefined means no limit;
   * an empty list allows nothing.
   */
  readonly allowedEndpoints?: readonly string[];
}

/** What the action touches: the resource's tenant, and the HTTP request when there is one. */
export interface DecisionTarget {
  readonly tenantId?: string;
  readonly request?: { readonly method: string; readonly path: string };
  /** The installation's own tenant; installation-scoped actions are denied without it. */
  readonly installationTenantId?: string;
}

export type DenyReason = 'unknown-action' | 'tenant' | 'principal' | 'role' | 'installation' | 'endpoint';

export type Decision = { readonly allowed: true } | { readonly allowed: false; readonly reason: DenyReason };

const ALLOW: Decision = Object.freeze({ allowed: true });
const deny = (reason: DenyReason): Decision => Object.freeze({ allowed: false, reason });

/**
 * Decides whether a principal may perform an action. Pure: no I/O, no clock.
 *
 * The order of checks is deliberate:
 * 1. an unknown action is denied (default deny);
 * 2. a resource in another tenant is denied with `tenant` before anything else is looked at, so the
 *    API can answer 404 and never reveal that the id exists elsewhere;
 * 3. the principal kind must be one the action is open to (agents never use the management API,
 *    peers only the federation API);
 * 4. the role must reach the action's minimum;
 * 5. an installation-scoped action needs a principal of the installation's own tenant (and is
 *    denied when the caller did not say which tenant that is);
 * 6. a PAT limited to some endpoints must be calling one of them; with no request to check, a
 *    limited PAT is denied, since the limit could not be proven.
 */
export function decide(principal: Principal, action: string, target?: DecisionTarget): Decision {
  const rule = ruleFor(action);
  if (!rule) return deny('unknown-action');
  if (target?.tenantId !== undefined && target.tenantId !== principal.tenantId) return deny('tenant');
  if (!rule.principals.includes(principal.kind)) return deny('principal');
  if (!roleAtLeast(principal.role, rule.minRole)) return deny('role');
  if (rule.scope === 'installation' && principal.tenantId !== target?.installationTenantId) {
    return deny('installation');
  }
  if (principal.allowedEndpoints !== undefined) {
    const request = target?.request;
    if (!request || !endpointAllowed(principal.allowedEndpoints, request.method, request.path)) {
      return deny('endpoint');
    }
  }
  return ALLOW;
}
