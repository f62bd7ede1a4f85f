import type { Config } from '../../config/index.js';

/** The resolved OIDC and session settings; undefined when no identity provider is configured. */
export interface AuthSettings {
  issuer: string;
  clientId: string;
  clientSecret: string;
  clientAuthMethod: 'client_secret_post' | 'client_secret_basic';
  /** Expected `aud` of bearer tokens. */
  audience: string;
  roleClaim: string;
  groupsClaim: string;
  tenantClaim: string;
  scopes: string;
  allowInsecureIssuer: boolean;
  clockToleranceSec: number;
  jwksCooldownMs: number;
  idleTimeoutMs: number;
  absoluteTimeoutMs: number;
  /** Resolved late: in local mode the listener's port is known only once it listens. */
  redirectUrl(): string;
  postLogoutRedirectUrl(): string;
}

export function resolveAuthSettings(config: Config, httpPort: () => number): AuthSettings | undefined {
  const oidc = config.auth.oidc;
  if (!oidc.issuer || !oidc.clientId || !oidc.clientSecret) return undefined;
  const base = () => config.http.publicUrl ?? `http://${config.http.host ?? '127.0.0.1'}:${httpPort()}/`;
  return {
    issuer: oidc.issuer,
    clientId: oidc.clientId,
    clientSecret: oidc.clientSecret,
    clientAuthMethod: oidc.clientAuthMethod,
    audience: oidc.audience ?? oidc.clientId,
    roleClaim: oidc.roleClaim,
    groupsClaim: oidc.groupsClaim,
    tenantClaim: oidc.tenantClaim,
    scopes: oidc.scopes,
    allowInsecureIssuer: oidc.allowInsecureIssuer,
    clockToleranceSec: oidc.clockToleranceSeconds,
    jwksCooldownMs: oidc.jwksRefreshCooldownSeconds * 1000,
    idleTimeoutMs: config.auth.session.idleTimeoutSeconds * 1000,
    absoluteTimeoutMs: config.auth.session.absoluteTimeoutSeconds * 1000,
    redirectUrl: () => oidc.redirectUrl ?? new URL('auth/callback', withSlash(base())).toString(),
    postLogoutRedirectUrl: () => oidc.postLogoutRedirectUrl ?? new URL('/', base()).toString(),
  };
}

function withSlash(url: string) {
  return url.endsWith('/') ? url : `${url}/`;
}
