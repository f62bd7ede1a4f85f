import { describe, expect, it } from 'vitest';
import { createLatencyRecorder } from './latency';

describe('latency recorder', () => {
  it('summarises recorded round trips', () => {
    const r = createLatencyRecorder();
    for (let i = 1; i <= 100; i++) r.record(i);
    expect(r.summary()).toEqual({ count: 100, min: 1, mean: 50.5, p50: 51, p90: 91, p99: 100, max: 100 });
  });

  it('keeps memory bounded while counting every sample', () => {
    let seed = 1;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const r = createLatencyRecorder(10, random);
    for (let i = 0; i < 1000; i++) r.record(i);
    const s = r.summary();
    expect(s.count).toBe(1000);
    expect(s.min).toBe(0);
    expect(s.max).toBe(999);
    expect(s.p50).toBeGreaterThanOrEqual(0);
    expect(s.p50).toBeLessThanOrEqual(999);
  });

  it('is empty after reset', () => {
    const r = createLatencyRecorder();
    r.record(5);
    r.reset();
    expect(r.summary().count).toBe(0);
  });
});
