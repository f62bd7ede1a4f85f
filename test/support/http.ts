/** A JSON answer from the server; `body` is undefined when the response has no body. */
export interface ApiResponse<T> {
  status: number;
  headers: Headers;
  body: T;
}

/** Fetches a URL and parses its body as JSON (an empty body reads as undefined, as for 204). */
export async function fetchJson<T = any>(url: string, init?: RequestInit): Promise<ApiResponse<T>> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as T };
}

export type Api = <T = any>(path: string, init?: RequestInit) => Promise<ApiResponse<T>>;

/**
 * JSON requests against a server's HTTP API. The server is read on every call, so this can be
 * bound before a `beforeAll` has started it.
 */
export function apiOf(server: () => { httpUrl: string }): Api {
  return (path, init) => fetchJson(server().httpUrl + path, init);
}

/** A POST with a JSON body. */
export function jsonPost(body: unknown, headers: Record<string, string> = {}): RequestInit {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}
