import type { FastifyInstance } from 'fastify';
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';

/** Two years, the preload list's minimum; only ever sent over https. */
const HSTS = 'max-age=63072000; includeSubDomains';

/**
 * Strict response headers on every response, errors and 404s included:
 * - a CSP that allows only same-origin resources and no framing;
 * - HSTS only when the request came over https (directly, or from a trusted proxy's
 *   X-Forwarded-Proto), since a browser ignores it over http and local mode is plain http;
 * - no MIME sniffing and no Referer leaving the site.
 */
export async function installSecurityHeaders(app: FastifyInstance) {
  await app.register(helmet, {
    global: true,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        objectSrc: ["'none'"],
        imgSrc: ["'self'", 'data:'],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
      },
    },
    hsts: false,
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    crossOriginResourcePolicy: { policy: 'same-origin' },
  });
  app.addHook('onRequest', async (request, reply) => {
    if (request.protocol === 'https') reply.header('strict-transport-security', HSTS);
  });
}

/** Parses a comma-separated list, dropping blanks. */
export function commaList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * CORS is off unless origins are listed. When on, it never allows credentials: cross-origin
 * callers use bearer tokens or PATs, and the session cookie stays usable only from the UI's origin.
 */
export async function installCors(app: FastifyInstance, origins: string[]) {
  if (origins.length === 0) return;
  await app.register(cors, {
    origin: origins,
    credentials: false,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ['authorization', 'content-type'],
    maxAge: 600,
  });
}
