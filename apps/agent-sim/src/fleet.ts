/**
 * Many simulated agents in one process, for load tests and benchmarks.
 */
import { createSimAgent, type SimAgent } from './agent';
import type { SimAgentOptions } from './agent-options';
import { createLatencyRecorder, type LatencyRecorder } from './latency';

export interface FleetOptions extends Omit<SimAgentOptions, 'instanceUid' | 'localAddress' | 'latency'> {
  count: number;
  /** Delay between consecutive agent starts, so connects are spread out. */
  staggerMs?: number;
  /** Source addresses rotated across agents (see {@link loopbackAddresses}); spreads ephemeral ports. */
  localAddresses?: readonly string[];
  /** Per-agent overrides, e.g. a distinct host name or apply mode. */
  perAgent?: (index: number) => Partial<SimAgentOptions>;
  /** Shared recorder; one is created when absent. */
  latency?: LatencyRecorder;
  /** Called for each agent before it starts, e.g. to subscribe to its events. */
  onCreated?: (agent: SimAgent, index: number) => void;
}

export interface Fleet {
  readonly agents: readonly SimAgent[];
  readonly latency: LatencyRecorder;
  /** Agents whose start failed, with the error. */
  readonly failures: ReadonlyArray<{ index: number; error: Error }>;
  /** Stops every agent (gracefully by default). */
  stop(options?: { graceful?: boolean }): Promise<void>;
}

/** `127.0.0.1` … `127.0.0.<count>`: every 127/8 address is local on Linux. */
export function loopbackAddresses(count: number): string[] {
  if (count < 1 || count > 254) throw new RangeError('loopbackAddresses supports 1..254 addresses');
  return Array.from({ length: count }, (_, i) => `127.0.0.${i + 1}`);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Starts `count` agents, staggered; resolves when every start has finished (succeeded or failed). */
export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const { count, staggerMs = 0, localAddresses, perAgent, onCreated, ...common } = options;
  const latency = options.latency ?? createLatencyRecorder();
  const agents: SimAgent[] = [];
  const failures: Array<{ index: number; error: Error }> = [];
  const starts: Promise<void>[] = [];
  for (let index = 0; index < count; index++) {
    const agent = createSimAgent({
      ...common,
      description: {
        ...common.description,
        nonIdentifying: { 'host.name': `sim-${index}`, ...common.description?.nonIdentifying },
      },
      localAddress: localAddresses?.length ? localAddresses[index % localAddresses.length] : undefined,
      latency,
      ...perAgent?.(index),
    });
    agents.push(agent);
    onCreated?.(agent, index);
    starts.push(agent.start().catch((error: Error) => void failures.push({ index, error })));
    if (staggerMs > 0 && index < count - 1) await sleep(staggerMs);
  }
  await Promise.all(starts);
  return {
    agents,
    latency,
    failures,
    async stop(stopOptions) {
      await Promise.all(agents.map((a) => a.stop(stopOptions).catch(() => undefined)));
    },
  };
}
