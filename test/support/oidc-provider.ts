import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK, type JWTPayload } from 'jose';
import Provider, { errors } from 'oidc-provider';
import * as client from 'openid-client';
import { startServerProcess, type ServerProcess } from './server-process.js';

/**
 * A real OpenID Provider (`oidc-provider`) for end-to-end tests, in-process on a free port.
 *
 * - Accounts are whatever the test registers with {@link TestIdp.setAccount}, with any claims
 *   (`ampora:role`, `groups`, `tenant`, …); they are released in the ID token and at UserInfo.
 * - Sign-in is a plain HTML form at `/interaction/:uid` that a scripted browser fills in with an
 *   account id; consent is implied for these first-party clients.
 * - Clients: the server under test (`client_secret_post`), the same with `client_secret_basic`,
 *   a public CLI client that gets JWT access tokens for the resource `API_RESOURCE` (or
 *   `OTHER_RESOURCE`, for wrong-audience tests), and another app.
 * - Keys can be rotated ({@link TestIdp.rotateKeys}), and tests can mint tokens with the IdP's own
 *   keys ({@link TestIdp.sign}) for expiry and not-before cases.
 */
export const API_RESOURCE = 'urn:ampora:api';
export const OTHER_RESOURCE = 'urn:other:api';
export const CLI_CLIENT_ID = 'ampora-cli';
export const CLI_REDIRECT = 'http://127.0.0.1:9/cli-callback';

export interface TestIdpClient {
  clientId: string;
  clientSecret: string;
  authMethod: 'client_secret_post' | 'client_secret_basic';
}

interface SigningKey {
  kid: string;
  privateJwk: JWK;
}

async function newKey(): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = `k-${randomBytes(6).toString('hex')}`;
  return { kid, privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' } };
}

const CLAIMS = ['name', 'email', 'ampora:role', 'groups', 'tenant', 'preferred_username'];

export class TestIdp {
  readonly issuer: string;
  private provider!: Provider;
  private keys: SigningKey[] = [];
  private readonly accounts = new Map<string, Record<string, unknown>>();
  private redirectUris: string[] = [];
  readonly clients = {
    post: {
      clientId: 'ampora',
      clientSecret: randomBytes(24).toString('hex'),
      authMethod: 'client_secret_post',
    },
    basic: {
      clientId: 'ampora-basic',
      clientSecret: randomBytes(24).toString('hex'),
      authMethod: 'client_secret_basic',
    },
  } satisfies Record<string, TestIdpClient>;

  private constructor(
    private readonly server: Server,
    port: number,
  ) {
    this.issuer = `http://127.0.0.1:${port}`;
  }

  static async start(): Promise<TestIdp> {
    const holder: { idp?: TestIdp } = {};
    const server = createServer((req, res) => {
      if (!holder.idp) return void res.writeHead(503).end();
      void holder.idp.handle(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const idp = (holder.idp = new TestIdp(server, (server.address() as AddressInfo).port));
    idp.keys = [await newKey()];
    idp.rebuild();
    return idp;
  }

  /** Registers the callback URL of the server under test (known only once it listens). */
  allowRedirect(url: string) {
    this.redirectUris.push(url);
    this.rebuild();
  }

  setAccount(sub: string, claims: Record<string, unknown>) {
    this.accounts.set(sub, claims);
  }

  /** Publishes a new signing key and signs with it from now on; `keepOld` keeps the old keys in the JWKS. */
  async rotateKeys(options: { keepOld: boolean }) {
    const fresh = await newKey();
    this.keys = options.keepOld ? [fresh, ...this.keys] : [fresh];
    this.rebuild();
    return fresh.kid;
  }

  get currentKid() {
    return this.keys[0]!.kid;
  }

  /** A JWT signed with the IdP's current key, for cases a real flow cannot produce on demand. */
  async sign(claims: JWTPayload, options: { audience: string; expiresAt: number; notBefore?: number }) {
    const key = this.keys[0]!;
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'at+jwt' })
      .setIssuer(this.issuer)
      .setAudience(options.audience)
      .setIssuedAt()
      .setExpirationTime(options.expiresAt);
    if (options.notBefore !== undefined) jwt.setNotBefore(options.notBefore);
    return jwt.sign(await importJWK(key.privateJwk, 'RS256'));
  }

  async close() {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private rebuild() {
    const accounts = this.accounts;
    const serverClients = Object.values(this.clients).map((c) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      token_endpoint_auth_method: c.authMethod,
      redirect_uris: this.redirectUris.length ? this.redirectUris : ['http://127.0.0.1:9/unused'],
      post_logout_redirect_uris: this.redirectUris.map((u) => new URL('/', u).toString()),
      grant_types: ['authorization_code'],
      response_types: ['code' as const],
    }));
    this.provider = new Provider(this.issuer, {
      clients: [
        ...serverClients,
        {
          client_id: CLI_CLIENT_ID,
          token_endpoint_auth_method: 'none',
          application_type: 'native',
          redirect_uris: [CLI_REDIRECT],
          grant_types: ['authorization_code'],
          response_types: ['code' as const],
        },
      ],
      jwks: { keys: this.keys.map((k) => k.privateJwk) },
      cookies: { keys: ['test-idp-cookie-key'] },
      claims: { openid: ['sub'], profile: CLAIMS },
      conformIdTokenClaims: false,
      pkce: { required: () => true },
      features: {
        devInteractions: { enabled: false },
        rpInitiatedLogout: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: async (_ctx, _client, oneOf) => oneOf,
          useGrantedResource: async () => true,
          getResourceServerInfo: async (_ctx, resource) => {
            if (resource !== API_RESOURCE && resource !== OTHER_RESOURCE) throw new errors.InvalidTarget();
            return {
              scope: 'api',
              audience: resource,
              accessTokenFormat: 'jwt',
              accessTokenTTL: 300,
              jwt: { sign: { alg: 'RS256' } },
            };
          },
        },
      },
      extraTokenClaims: async (_ctx, token) => {
        const sub = 'accountId' in token ? token.accountId : undefined;
        const claims = accounts.get(sub ?? '') ?? {};
        return Object.fromEntries(CLAIMS.filter((c) => c in claims).map((c) => [c, claims[c]]));
      },
      findAccount: async (_ctx, sub) => {
        const claims = accounts.get(sub);
        if (!claims) return undefined;
        return { accountId: sub, claims: async () => ({ sub, ...claims }) };
      },
      interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}` },
      // First-party clients: consent is implied, and covers the API resource when one is asked for.
      loadExistingGrant: async (ctx) => {
        const grantId =
          ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
        if (grantId) return ctx.oidc.provider.Grant.find(grantId);
        const grant = new ctx.oidc.provider.Grant({
          clientId: ctx.oidc.client!.clientId,
          accountId: ctx.oidc.session!.accountId!,
        });
        grant.addOIDCScope('openid profile email');
        grant.addOIDCClaims(CLAIMS);
        const resource = ctx.oidc.params?.resource;
        if (typeof resource === 'string') grant.addResourceScope(resource, 'api');
        await grant.save();
        return grant;
      },
    });
  }

  /** First-party clients: whatever the provider still asks consent for is granted at once. */
  private async consent(req: IncomingMessage, res: ServerResponse, details: Interaction) {
    const grant = details.grantId
      ? (await this.provider.Grant.find(details.grantId))!
      : new this.provider.Grant({
          accountId: details.session!.accountId,
          clientId: String(details.params.client_id),
        });
    const scope = missing(details, 'missingOIDCScope') as string[] | undefined;
    if (scope) grant.addOIDCScope(scope.join(' '));
    const claims = missing(details, 'missingOIDCClaims') as string[] | undefined;
    if (claims) grant.addOIDCClaims(claims);
    const resources = missing(details, 'missingResourceScopes') as Record<string, string[]> | undefined;
    for (const [indicator, scopes] of Object.entries(resources ?? {}))
      grant.addResourceScope(indicator, scopes.join(' '));
    const grantId = await grant.save();
    await this.provider.interactionFinished(
      req,
      res,
      { consent: { grantId } },
      { mergeWithLastSubmission: true },
    );
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', this.issuer);
    const match = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/.exec(url.pathname);
    if (!match) return this.provider.callback()(req, res);
    try {
      if (req.method === 'GET' && !match[2]) {
        const details = await this.provider.interactionDetails(req, res);
        if (details.prompt.name === 'consent') return await this.consent(req, res, details);
        res
          .writeHead(200, { 'content-type': 'text/html' })
          .end(
            `<form method="post" action="/interaction/${match[1]}/login"><input name="login"><button>Sign in</button></form>`,
          );
        return;
      }
      if (req.method === 'POST' && match[2]) {
        const body = new URLSearchParams(await readBody(req));
        const login = body.get('login') ?? '';
        if (!this.accounts.has(login)) return void res.writeHead(400).end('unknown account');
        await this.provider.interactionFinished(
          req,
          res,
          { login: { accountId: login } },
          {
            mergeWithLastSubmission: false,
          },
        );
        return;
      }
      res.writeHead(405).end();
    } catch (err) {
      res.writeHead(400).end((err as Error).message);
    }
  }
}

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

function missing(details: Interaction, key: string): unknown {
  return (details.prompt.details as Record<string, unknown>)[key];
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (data += c));
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}

/**
 * A scripted browser: fetch with a cookie jar per host (ports share cookies, as in browsers),
 * following redirects by hand so each hop's cookies are kept.
 */
export class ScriptedBrowser {
  private readonly jar = new Map<string, Map<string, string>>();

  cookies(url: string): Map<string, string> {
    const host = new URL(url).hostname;
    let jar = this.jar.get(host);
    if (!jar) this.jar.set(host, (jar = new Map()));
    return jar;
  }

  cookie(url: string, name: string): string | undefined {
    return this.cookies(url).get(name);
  }

  setCookie(url: string, name: string, value: string) {
    this.cookies(url).set(name, value);
  }

  async request(url: string, init: RequestInit = {}): Promise<Response> {
    const jar = this.cookies(url);
    const headers = new Headers(init.headers);
    if (jar.size) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attrs.some((a) => {
        const [k, v] = a.split('=').map((s) => s.trim());
        if (k?.toLowerCase() === 'max-age') return Number(v) <= 0;
        if (k?.toLowerCase() === 'expires') return new Date(v ?? '').getTime() <= Date.now();
        return false;
      });
      if (expired || value === '') jar.delete(name);
      else jar.set(name, value);
    }
    return res;
  }

  /**
   * Follows redirects from `url`; on the IdP's sign-in form, signs in as `account`. Stops at the
   * first non-redirect answer, or at a redirect whose target `stopAt` accepts (not fetched).
   */
  async navigate(
    url: string,
    options: { account?: string; stopAt?: (url: string) => boolean; maxHops?: number } = {},
  ): Promise<{ url: string; response?: Response; hops: string[] }> {
    const hops: string[] = [];
    let current = url;
    let init: RequestInit = {};
    for (let i = 0; i < (options.maxHops ?? 20); i++) {
      hops.push(current);
      const res = await this.request(current, init);
      init = {};
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        await res.arrayBuffer();
        const next = new URL(location, current).toString();
        if (options.stopAt?.(next)) return { url: next, hops };
        current = next;
        continue;
      }
      if (res.status === 200 && /\/interaction\/[^/]+$/.test(new URL(current).pathname) && options.account) {
        await res.arrayBuffer();
        current = `${current}/login`;
        init = {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ login: options.account }).toString(),
        };
        continue;
      }
      return { url: current, response: res, hops };
    }
    throw new Error(`too many redirects: ${hops.join(' -> ')}`);
  }
}

/**
 * Gets a JWT access token for `resource` the way a CLI would: authorization code + PKCE as the
 * public CLI client, through the scripted browser's sign-in.
 */
export async function cliAccessToken(idp: TestIdp, account: string, resource = API_RESOURCE) {
  const config = await client.discovery(new URL(idp.issuer), CLI_CLIENT_ID, undefined, client.None(), {
    execute: [client.allowInsecureRequests],
  });
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: CLI_REDIRECT,
    scope: 'openid api',
    resource,
    state,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  const browser = new ScriptedBrowser();
  const end = await browser.navigate(url.toString(), {
    account,
    stopAt: (u) => u.startsWith(CLI_REDIRECT),
  });
  const tokens = await client.authorizationCodeGrant(
    config,
    new URL(end.url),
    { pkceCodeVerifier: verifier, expectedState: state },
    { resource },
  );
  return tokens.access_token;
}

export interface AuthServer {
  idp: TestIdp;
  server: ServerProcess;
  close(): Promise<void>;
}

/** The IdP and a server process configured against it, with the server's callback registered. */
export async function startServerWithIdp(
  options: { client?: 'post' | 'basic'; env?: Record<string, string> } = {},
): Promise<AuthServer> {
  const idp = await TestIdp.start();
  const c = idp.clients[options.client ?? 'post'];
  const server = await startServerProcess({
    AMPORA_AUTH_OIDC_ISSUER: idp.issuer,
    AMPORA_AUTH_OIDC_CLIENT_ID: c.clientId,
    AMPORA_AUTH_OIDC_CLIENT_SECRET: c.clientSecret,
    AMPORA_AUTH_OIDC_CLIENT_AUTH_METHOD: c.authMethod,
    AMPORA_AUTH_OIDC_AUDIENCE: API_RESOURCE,
    AMPORA_AUTH_OIDC_ALLOW_INSECURE_ISSUER: 'true',
    // Rotation tests run right after earlier fetches of the key set.
    AMPORA_AUTH_OIDC_JWKS_REFRESH_COOLDOWN_SECONDS: '0',
    ...options.env,
  });
  idp.allowRedirect(`${server.httpUrl}/auth/callback`);
  return {
    idp,
    server,
    async close() {
      await server.stop();
      await idp.close();
    },
  };
}

/** Signs in through the browser redirect flow; returns the final response and the CSRF token. */
export async function signIn(browser: ScriptedBrowser, httpUrl: string, account: string) {
  const end = await browser.navigate(`${httpUrl}/auth/login?returnTo=/api/me`, { account });
  const status = end.response?.status;
  const body = end.response ? await end.response.text() : '';
  return {
    status,
    url: end.url,
    hops: end.hops,
    body: body ? (JSON.parse(body) as Record<string, unknown>) : {},
    csrf: browser.cookie(httpUrl, 'ampora_csrf'),
  };
}
