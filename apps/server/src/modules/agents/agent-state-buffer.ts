import { SpanStatusCode } from '@opentelemetry/api';
import type { Clock, Database, IdSource } from '@ampora/db';
import { tracer } from '../../observability/tracing.js';
import type { Logger } from '../../observability/logger.js';
import { isLivenessOnly, mergePatch, type AgentStatePatch } from './agent-state.js';
import { applyPatches } from './agents-queries.js';

export interface AgentStateBufferOptions {
  db: Database;
  ids: IdSource;
  clock: Clock;
  logger: Logger;
  flushIntervalMs: number;
  /**
   * A patch that only proves liveness (heartbeat, identical repeat) waits until the agent's
   * last persisted sighting is this old. This is what keeps heartbeats from becoming row updates.
   */
  livenessWriteIntervalMs: number;
  /** Rows per statement. */
  maxBatch?: number;
  onFlush?: (rows: number, seconds: number) => void;
}

export interface AgentStateBuffer {
  record(patch: AgentStatePatch): void;
  /** Writes everything due now (or everything, with `all`). Never runs two flushes at once. */
  flush(all?: boolean): Promise<void>;
  start(): void;
  /** Stops the timer and writes everything still buffered. */
  close(): Promise<void>;
  readonly pending: number;
}

/**
 * Coalesces agent state writes: each agent has at most one pending patch, later reports fold into
 * it, and a timer writes due patches in batches per tenant. A failed write puts its patches back,
 * so nothing is lost to a transient database error.
 */
export function createAgentStateBuffer(o: AgentStateBufferOptions): AgentStateBuffer {
  const pending = new Map<string, AgentStatePatch>();
  const lastWritten = new Map<string, number>();
  const maxBatch = o.maxBatch ?? 2000;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  const keyOf = (p: AgentStatePatch) => `${p.tenantId}:${p.instanceUid}`;

  function due(key: string, p: AgentStatePatch, now: number) {
    if (!isLivenessOnly(p)) return true;
    const last = lastWritten.get(key);
    return last === undefined || now - last >= o.livenessWriteIntervalMs;
  }

  async function flushOnce(all: boolean) {
    const now = o.clock.now().getTime();
    const byTenant = new Map<string, Array<[string, AgentStatePatch]>>();
    for (const [key, patch] of pending) {
      if (!all && !due(key, patch, now)) continue;
      pending.delete(key);
      const list = byTenant.get(patch.tenantId) ?? [];
      list.push([key, patch]);
      byTenant.set(patch.tenantId, list);
    }
    for (const [tenantId, entries] of byTenant) {
      for (let i = 0; i < entries.length; i += maxBatch) {
        const slice = entries.slice(i, i + maxBatch);
        const started = process.hrtime.bigint();
        const span = tracer().startSpan('agent-state.flush', {
          attributes: { 'ampora.tenant_id': tenantId, 'ampora.rows': slice.length },
        });
        try {
          await applyPatches(
            o.db,
            o.ids,
            tenantId,
            slice.map(([, p]) => p),
          );
          span.end();
          for (const [key] of slice) lastWritten.set(key, now);
          o.onFlush?.(slice.length, Number(process.hrtime.bigint() - started) / 1e9);
        } catch (err) {
          span.recordException(err as Error);
          span.setStatus({ code: SpanStatusCode.ERROR });
          span.end();
          o.logger.error(
            { err: (err as Error).message, rows: slice.length },
            'agent state flush failed; will retry',
          );
          // Put them back under anything that arrived meanwhile, which is newer.
          for (const [key, p] of slice) {
            const newer = pending.get(key);
            pending.set(key, newer ? mergePatch(p, newer) : p);
          }
        }
      }
    }
  }

  const buffer: AgentStateBuffer = {
    record(patch) {
      const key = keyOf(patch);
      const existing = pending.get(key);
      pending.set(key, existing ? mergePatch(existing, patch) : patch);
    },
    async flush(all = false) {
      while (running) await running;
      running = flushOnce(all).finally(() => {
        running = undefined;
      });
      await running;
    },
    start() {
      timer ??= setInterval(() => void buffer.flush(), o.flushIntervalMs);
      timer.unref();
    },
    async close() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await buffer.flush(true);
      if (pending.size) {
        // One more try; then report what could not be written rather than dropping it silently.
        await buffer.flush(true);
        if (pending.size)
          o.logger.error({ agents: pending.size }, 'agent state could not be flushed at shutdown');
      }
    },
    get pending() {
      return pending.size;
    },
  };
  return buffer;
}
