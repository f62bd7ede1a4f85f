/**
 * Round-trip latency sampling for benchmarks: request sent → reply
 * received, in milliseconds. Bounded memory: keeps a uniform reservoir
 * sample once more than `capacity` values have been recorded.
 */

export interface LatencySummary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface LatencyRecorder {
  record(ms: number): void;
  summary(): LatencySummary;
  reset(): void;
}

export function createLatencyRecorder(
  capacity = 100_000,
  random: () => number = Math.random,
): LatencyRecorder {
  let samples: number[] = [];
  let count = 0;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  return {
    record(ms) {
      count++;
      sum += ms;
      min = Math.min(min, ms);
      max = Math.max(max, ms);
      if (samples.length < capacity) samples.push(ms);
      else {
        // Reservoir sampling keeps percentiles representative without unbounded growth.
        const slot = Math.floor(random() * count);
        if (slot < capacity) samples[slot] = ms;
      }
    },
    summary() {
      if (count === 0) return { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 };
      const sorted = [...samples].sort((a, b) => a - b);
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
      return { count, min, mean: sum / count, p50: at(0.5), p90: at(0.9), p99: at(0.99), max };
    },
    reset() {
      samples = [];
      count = 0;
      sum = 0;
      min = Infinity;
      max = -Infinity;
    },
  };
}
