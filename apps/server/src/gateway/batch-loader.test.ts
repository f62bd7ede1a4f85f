import { describe, expect, it } from 'vitest';
import { byTenant, createBatchLoader } from './batch-loader.js';

describe('batch loader', () => {
  it('answers lookups made in one turn with one query, each with its own value', async () => {
    const calls: number[][] = [];
    const loader = createBatchLoader(async (keys: number[]) => {
      calls.push(keys);
      return new Map(keys.filter((k) => k % 2 === 0).map((k) => [k, `v${k}`]));
    });
    const results = await Promise.all([1, 2, 3, 4, 2].map((k) => loader.load(k)));
    expect(results).toEqual([undefined, 'v2', undefined, 'v4', 'v2']);
    expect(calls).toEqual([[1, 2, 3, 4]]);
  });

  it('splits at maxBatch and fails only the batch whose query failed', async () => {
    const calls: number[][] = [];
    const loader = createBatchLoader(
      async (keys: number[]) => {
        calls.push(keys);
        if (keys.includes(3)) throw new Error('boom');
        return new Map(keys.map((k) => [k, k]));
      },
      { maxBatch: 2 },
    );
    const results = await Promise.allSettled([1, 2, 3, 4, 5].map((k) => loader.load(k)));
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'rejected',
      'fulfilled',
    ]);
    expect(calls).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('groups tenant-prefixed keys', () => {
    expect([...byTenant(['t1:a', 't2:b', 't1:c']).entries()]).toEqual([
      ['t1', ['a', 'c']],
      ['t2', ['b']],
    ]);
  });
});
