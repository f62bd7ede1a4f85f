import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify } from 'jose';
import type { JSONWebKeySet, JWTPayload, JWTVerifyGetKey, ProtectedHeaderParameters } from 'jose';
import { highestRole, parseRole } from './roles.js';
import type { Role } from './roles.js';

/**
 * Verification of bearer tokens issued by the operators' identity provider.
 *
 * This package only checks tokens. Identity must never be taken from forwarded headers
 * (`X-Forwarded-User`, `X-Auth-Request-Email`, …) set by a proxy: anyone who reaches the server
 * directly could set them. The HTTP layer passes the `Authorization: Bearer` token here instead.
 */
export interface Clock {
  now(): Date;
}

export interface JwtVerifierOptions {
  readonly issuer: string;
  readonly audience: string | readonly string[];
  /** The issuer's JWKS endpoint; unknown key ids trigger a refetch, so key rotation is picked up. */
  readonly jwksUri?: string;
  /** A fixed key set, for tests and air-gapped installs. */
  readonly jwks?: JSONWebKeySet;
  /** Allowed clock skew between us and the issuer for exp/nbf/iat. Default 30 s. */
  readonly clockToleranceSec?: number;
  readonly clock?: Clock;
  /** Asymmetric algorithms only by default: a shared-secret HMAC token could be minted by any client. */
  readonly algorithms?: readonly string[];
  /** Least time between two JWKS refetches caused by unknown key ids. Default 30 s. */
  readonly jwksCooldownMs?: number;
  /** Time the JWKS stays cached before a refetch. Default 10 min. */
  readonly jwksCacheMaxAgeMs?: number;
  readonly jwksTimeoutMs?: number;
}

export type JwtProblem =
  | 'malformed'
  | 'bad-algorithm'
  | 'bad-signature'
  | 'unknown-key'
  | 'expired'
  | 'not-yet-valid'
  | 'bad-issuer'
  | 'bad-audience'
  | 'missing-claim'
  | 'jwks-unavailable';

export class JwtVerificationError extends Error {
  override readonly name = 'JwtVerificationError';
  constructor(readonly problem: JwtProblem) {
    // A fixed message per problem: the reason is logged and audited, the token itself never is.
    super(`bearer token rejected: ${problem}`);
  }
}

export interface VerifiedJwt {
  readonly claims: JWTPayload;
  readonly header: ProtectedHeaderParameters;
}

export type JwtVerifier = (token: string) => Promise<VerifiedJwt>;

const DEFAULT_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
];

function problemOf(error: unknown): JwtProblem {
  if (error instanceof errors.JWTExpired) return 'expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === 'missing') return 'missing-claim';
    if (error.claim === 'iss') return 'bad-issuer';
    if (error.claim === 'aud') return 'bad-audience';
    if (error.claim === 'nbf' || error.claim === 'iat') return 'not-yet-valid';
    return 'malformed';
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'bad-signature';
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return 'unknown-key';
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported)
    return 'bad-algorithm';
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) return 'jwks-unavailable';
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return 'malformed';
  // Anything else comes from fetching the key set (network, non-200, bad JSON).
  return 'jwks-unavailable';
}

/**
 * Builds a verifier that checks signature, `iss`, `aud`, `exp` (required) and `nbf`. Rejections
 * are {@link JwtVerificationError}s naming the problem.
 */
export function createJwtVerifier(options: JwtVerifierOptions): JwtVerifier {
  let keys: JWTVerifyGetKey;
  if (options.jwks && !options.jwksUri) {
    keys = createLocalJWKSet(options.jwks);
  } else if (options.jwksUri && !options.jwks) {
    keys = createRemoteJWKSet(new URL(options.jwksUri), {
      cooldownDuration: options.jwksCooldownMs ?? 30_000,
      cacheMaxAge: options.jwksCacheMaxAgeMs ?? 600_000,
      timeoutDuration: options.jwksTimeoutMs ?? 5_000,
    });
  } else {
    throw new TypeError('createJwtVerifier needs exactly one of jwksUri and jwks');
  }
  const audience = typeof options.audience === 'string' ? options.audience : [...options.audience];
  const algorithms = [...(options.algorithms ?? DEFAULT_ALGORITHMS)];

  return async (token) => {
    try {
      const { payload, protectedHeader } = await jwtVerify(token, keys, {
        issuer: options.issuer,
        audience,
        algorithms,
        clockTolerance: options.clockToleranceSec ?? 30,
        requiredClaims: ['exp'],
        ...(options.clock ? { currentDate: options.clock.now() } : {}),
      });
      return { claims: payload, header: protectedHeader };
    } catch (error) {
      throw new JwtVerificationError(problemOf(error));
    }
  };
}

export interface RoleMapping {
  readonly group: string;
  readonly role: Role;
}

export interface RoleClaimOptions {
  /** Claim holding a role name or a list of them. Default `ampora:role`. */
  readonly roleClaim?: string;
  /** Claim holding the user's IdP groups. Default `groups`. */
  readonly groupsClaim?: string;
  /**
   * The tenant's identity mapping. When it has entries, roles come from groups only and the role
   * claim is ignored: a tenant that manages access through groups must not be overridden by a
   * role claim someone else controls. Group names compare exactly.
   */
  readonly mappings?: readonly RoleMapping[];
}

function stringsOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

/** The highest role the claims grant, or undefined when they grant none (the caller must then deny). */
export function rolesFromClaims(claims: JWTPayload, options: RoleClaimOptions = {}): Role | undefined {
  const mappings = options.mappings ?? [];
  if (mappings.length > 0) {
    const groups = new Set(stringsOf(claims[options.groupsClaim ?? 'groups']));
    return highestRole(mappings.filter((m) => groups.has(m.group)).map((m) => m.role));
  }
  const roles = stringsOf(claims[options.roleClaim ?? 'ampora:role'])
    .map(parseRole)
    .filter((r): r is Role => r !== undefined);
  return highestRole(roles);
}

/** The tenant named by the claims (default claim `tenant`), or undefined when absent or not a non-empty string. */
export function tenantFromClaims(
  claims: JWTPayload,
  options: { tenantClaim?: string } = {},
): string | undefined {
  const value = claims[options.tenantClaim ?? 'tenant'];
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}
