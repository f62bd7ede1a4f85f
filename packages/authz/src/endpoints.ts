/**
 * Allowed-endpoint patterns for personal access tokens, written as `METHOD /path` where `*` in the
 * path matches any run of characters (slashes included) and a method of `*` matches every method:
 * `GET /api/agents*`, `* /api/rollouts/*`. Methods compare case-insensitively, paths exactly.
 *
 * Matching is a linear-time glob walk rather than a regular expression, so a pattern cannot make a
 * request take long to authorize.
 */
export interface EndpointPattern {
  readonly method: string;
  readonly path: string;
}

export class EndpointPatternError extends Error {
  override readonly name = 'EndpointPatternError';
}

/** Parses `METHOD /path`. Throws for anything else, so a bad pattern is refused when a PAT is created. */
export function parseEndpointPattern(pattern: string): EndpointPattern {
  const match = /^\s*([A-Za-z]+|\*)\s+(\/\S*)\s*$/.exec(pattern);
  if (!match)
    throw new EndpointPatternError('an endpoint pattern is "METHOD /path", for example "GET /api/agents*"');
  return { method: match[1]!.toUpperCase(), path: match[2]! };
}

/** Glob match where `*` matches any sequence; greedy with a single backtrack point, O(n·m) worst case. */
function globMatch(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let starP = -1;
  let starT = 0;
  while (t < text.length) {
    if (p < pattern.length && pattern[p] === '*') {
      starP = p++;
      starT = t;
    } else if (p < pattern.length && pattern[p] === text[t]) {
      p++;
      t++;
    } else if (starP >= 0) {
      p = starP + 1;
      t = ++starT;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/**
 * True when the request matches at least one pattern. The query string is ignored; paths with dot
 * segments are refused outright, since the router would resolve them to a path the pattern never named.
 */
export function endpointAllowed(patterns: readonly string[], method: string, path: string): boolean {
  const bare = path.split('?', 1)[0] ?? '';
  if (!bare.startsWith('/') || /(^|\/)\.\.?(\/|$)/.test(bare)) return false;
  const verb = method.toUpperCase();
  for (const raw of patterns) {
    let pattern: EndpointPattern;
    try {
      pattern = parseEndpointPattern(raw);
    } catch {
      continue; // a malformed stored pattern grants nothing
    }
    if ((pattern.method === '*' || pattern.method === verb) && globMatch(pattern.path, bare)) return true;
  }
  return false;
}
