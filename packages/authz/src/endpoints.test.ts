import { describe, expect, it } from 'vitest';
import { EndpointPatternError, endpointAllowed, parseEndpointPattern } from './endpoints.js';

describe('endpointAllowed', () => {
  it('matches a trailing wildcard across path segments', () => {
    expect(endpointAllowed(['GET /api/agents*'], 'GET', '/api/agents')).toBe(true);
    expect(endpointAllowed(['GET /api/agents*'], 'get', '/api/agents/a/b/c')).toBe(true);
    expect(endpointAllowed(['GET /api/agents*'], 'GET', '/api/configurations')).toBe(false);
  });

  it('requires the method to match unless the pattern method is *', () => {
    expect(endpointAllowed(['GET /api/agents*'], 'DELETE', '/api/agents/1')).toBe(false);
    expect(endpointAllowed(['* /api/agents*'], 'DELETE', '/api/agents/1')).toBe(true);
  });

  it('matches wildcards in the middle and exact paths', () => {
    expect(endpointAllowed(['POST /api/rollouts/*/pause'], 'POST', '/api/rollouts/r-1/pause')).toBe(true);
    expect(endpointAllowed(['POST /api/rollouts/*/pause'], 'POST', '/api/rollouts/r-1/resume')).toBe(false);
    expect(endpointAllowed(['GET /api/me'], 'GET', '/api/me')).toBe(true);
    expect(endpointAllowed(['GET /api/me'], 'GET', '/api/me/extra')).toBe(false);
  });

  it('ignores the query string but refuses dot segments and relative paths', () => {
    expect(endpointAllowed(['GET /api/agents'], 'GET', '/api/agents?limit=5')).toBe(true);
    expect(endpointAllowed(['GET /api/agents*'], 'GET', '/api/agents/../auth/pats')).toBe(false);
    expect(endpointAllowed(['GET /api/agents*'], 'GET', '/api/agents/./x')).toBe(false);
    expect(endpointAllowed(['GET *'], 'GET', 'api/agents')).toBe(false);
  });

  it('skips malformed stored patterns instead of treating them as allow-all', () => {
    expect(endpointAllowed(['*', 'GET', '/api/*'], 'GET', '/api/agents')).toBe(false);
  });

  it('stays fast on patterns built to backtrack', () => {
    const pattern = `GET /${'*a'.repeat(30)}b`;
    expect(endpointAllowed([pattern], 'GET', `/${'a'.repeat(5000)}`)).toBe(false);
  });
});

describe('parseEndpointPattern', () => {
  it('parses method and path', () => {
    expect(parseEndpointPattern('get /api/agents*')).toEqual({ method: 'GET', path: '/api/agents*' });
  });

  it('rejects patterns without a method or an absolute path', () => {
    for (const bad of ['/api/agents', 'GET api/agents', 'GET /a b', '', 'G3T /x']) {
      expect(() => parseEndpointPattern(bad)).toThrow(EndpointPatternError);
    }
  });
});
