export { ROLES, highestRole, isRole, parseRole, roleAtLeast, roleRank } from './roles.js';
export type { Role } from './roles.js';
export { ACTIONS, isKnownAction, ruleFor } from './actions.js';
export type { Action, ActionRule, PrincipalKind } from './actions.js';
export { decide } from './decide.js';
export type { Decision, DecisionTarget, DenyReason, Principal } from './decide.js';
export { EndpointPatternError, endpointAllowed, parseEndpointPattern } from './endpoints.js';
export type { EndpointPattern } from './endpoints.js';
export {
  TOKEN_PREFIXES,
  TokenFormatError,
  constantTimeEqualHex,
  generateSecret,
  generateToken,
  hashToken,
  parseToken,
  verifySecret,
} from './tokens.js';
export type { ParsedToken, TokenFormatProblem, TokenKind } from './tokens.js';
export { JwtVerificationError, createJwtVerifier, rolesFromClaims, tenantFromClaims } from './oidc.js';
export type {
  JwtProblem,
  JwtVerifier,
  JwtVerifierOptions,
  RoleClaimOptions,
  RoleMapping,
  VerifiedJwt,
} from './oidc.js';
