import * as client from 'openid-client';
import { createJwtVerifier, type JwtVerifier } from '@ampora/authz';
import type { Clock } from '@ampora/db';
import { problems } from '../../http/problem.js';
import type { Logger } from '../../observability/logger.js';
import type { AuthSettings } from './auth-settings.js';

/** What the login callback must check the authorization response against. */
export interface LoginChecks {
  state: string;
  nonce: string;
  codeVerifier: string;
}

export interface LoginResult {
  /** ID token claims, completed from the UserInfo endpoint when the provider has one. */
  claims: Record<string, unknown>;
  idToken: string | undefined;
}

export class OidcUnavailableError extends Error {
  override name = 'OidcUnavailableError';
}

/** The answer while the identity provider cannot be reached: a 503 worth retrying in 30 s. */
export function idpUnavailable(detail = 'the identity provider is unreachable') {
  return problems.unavailable(30, detail);
}

/**
 * The relying-party side of OIDC, on `openid-client`: authorization code flow with PKCE (S256),
 * state and nonce, as a confidential client. Discovery is lazy and retried on the next use after a
 * failure, so the server starts while its identity provider is down and recovers when it is back.
 */
export function createOidcClient(settings: AuthSettings, deps: { clock: Clock; logger: Logger }) {
  let discovered: Promise<client.Configuration> | undefined;
  let verifier: Promise<JwtVerifier> | undefined;

  function configuration(): Promise<client.Configuration> {
    discovered ??= client
      .discovery(
        new URL(settings.issuer),
        settings.clientId,
        undefined,
        settings.clientAuthMethod === 'client_secret_basic'
          ? client.ClientSecretBasic(settings.clientSecret)
          : client.ClientSecretPost(settings.clientSecret),
        {
          timeout: 10,
          ...(settings.allowInsecureIssuer ? { execute: [client.allowInsecureRequests] } : {}),
        },
      )
      .catch((err: unknown) => {
        discovered = undefined;
        deps.logger.warn({ err: (err as Error).message }, 'OIDC discovery failed');
        throw new OidcUnavailableError('the identity provider is unreachable');
      });
    return discovered;
  }

  return {
    /** Starts a login: the URL to send the browser to, and the checks to keep for the callback. */
    async beginLogin(): Promise<{ url: string; checks: LoginChecks }> {
      const config = await configuration();
      const checks: LoginChecks = {
        state: client.randomState(),
        nonce: client.randomNonce(),
        codeVerifier: client.randomPKCECodeVerifier(),
      };
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: settings.redirectUrl(),
        scope: settings.scopes,
        response_type: 'code',
        state: checks.state,
        nonce: checks.nonce,
        code_challenge: await client.calculatePKCECodeChallenge(checks.codeVerifier),
        code_challenge_method: 'S256',
      });
      return { url: url.toString(), checks };
    },

    /** Validates the authorization response and redeems the code. Throws on any mismatch. */
    async completeLogin(callbackUrl: URL, checks: LoginChecks): Promise<LoginResult> {
      const config = await configuration();
      const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: checks.codeVerifier,
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        idTokenExpected: true,
      });
      const idClaims = tokens.claims();
      if (!idClaims) throw new Error('no ID token in the token response');
      let claims: Record<string, unknown> = { ...idClaims };
      if (config.serverMetadata().userinfo_endpoint && tokens.access_token) {
        try {
          const info = await client.fetchUserInfo(config, tokens.access_token, idClaims.sub);
          // The ID token is signed; UserInfo only adds what the ID token left out.
          claims = { ...info, ...claims };
        } catch (err) {
          deps.logger.warn({ err: (err as Error).message }, 'UserInfo request failed; using ID token claims');
        }
      }
      return { claims, idToken: tokens.id_token };
    },

    /** RP-initiated logout URL, when the provider advertises an end_session_endpoint. */
    async endSessionUrl(idToken: string | undefined): Promise<string | undefined> {
      const config = await configuration().catch(() => undefined);
      if (!config?.serverMetadata().end_session_endpoint) return undefined;
      return client
        .buildEndSessionUrl(config, {
          post_logout_redirect_uri: settings.postLogoutRedirectUrl(),
          client_id: settings.clientId,
          ...(idToken ? { id_token_hint: idToken } : {}),
        })
        .toString();
    },

    /**
     * Verifies a bearer JWT from the same issuer against its JWKS (signature, iss, aud, exp, nbf);
     * an unknown key id refetches the key set, so a rotation at the provider is picked up.
     */
    async verifyBearer(token: string) {
      verifier ??= configuration().then((config) => {
        const meta = config.serverMetadata();
        if (!meta.jwks_uri) throw new OidcUnavailableError('the identity provider publishes no jwks_uri');
        return createJwtVerifier({
          issuer: meta.issuer,
          audience: settings.audience,
          jwksUri: meta.jwks_uri,
          clockToleranceSec: settings.clockToleranceSec,
          clock: deps.clock,
          jwksCooldownMs: settings.jwksCooldownMs,
        });
      });
      const verify = await verifier.catch((err: unknown) => {
        verifier = undefined;
        throw err;
      });
      return verify(token);
    },
  };
}

export type OidcClient = ReturnType<typeof createOidcClient>;
