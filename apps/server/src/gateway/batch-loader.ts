/**
 * Coalesces point lookups made in the same turn of the event loop into one query. A fleet that
 * reconnects at once would otherwise cost one transaction per agent on its first message, and the
 * pool, not the CPU, would set the reconnect rate.
 */
export function createBatchLoader<K, V>(
  loadMany: (keys: K[]) => Promise<Map<K, V>>,
  options: { maxBatch?: number } = {},
) {
  const maxBatch = options.maxBatch ?? 500;
  let queue: Array<{ key: K; resolve: (v: V | undefined) => void; reject: (e: unknown) => void }> = [];
  let scheduled = false;

  function run() {
    scheduled = false;
    const batch = queue.slice(0, maxBatch);
    queue = queue.slice(maxBatch);
    if (queue.length) schedule();
    const keys = [...new Set(batch.map((b) => b.key))];
    loadMany(keys).then(
      (found) => batch.forEach((b) => b.resolve(found.get(b.key))),
      (err) => batch.forEach((b) => b.reject(err)),
    );
  }

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    setImmediate(run);
  }

  return {
    load(key: K): Promise<V | undefined> {
      return new Promise((resolve, reject) => {
        queue.push({ key, resolve, reject });
        schedule();
      });
    },
  };
}

/** Groups `tenant:rest` keys by tenant, for loaders whose queries run under one tenant's RLS context. */
export function byTenant(keys: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const key of keys) {
    const i = key.indexOf(':');
    const tenant = key.slice(0, i);
    const list = out.get(tenant) ?? [];
    list.push(key.slice(i + 1));
    out.set(tenant, list);
  }
  return out;
}
