import { collectDefaultMetrics, Registry } from 'prom-client';

/** One registry per server instance, so tests that build several apps never share counters. */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ampora_process_' });
  return registry;
}
