/**
 * Polls until `fn` yields a value other than undefined (a rejection counts as "not yet"), for state
 * the server writes asynchronously. Throws once `timeoutMs` has passed without one.
 */
export async function eventually<T>(fn: () => Promise<T | undefined>, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
