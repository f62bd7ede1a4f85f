import { describe, expect, it } from 'vitest';
import { renewalTime } from './agent-admission.js';

describe('certificate renewal time', () => {
  const from = new Date('2026-01-01T00:00:00Z');
  const to = new Date('2027-01-01T00:00:00Z');
  const life = to.getTime() - from.getTime();

  it('falls between the fraction of the lifetime and a tenth of that later, never after expiry', () => {
    for (const fp of ['00000000', '80000000', 'ffffffff']) {
      const at = renewalTime(from, to, fp.padEnd(64, '0'), 2 / 3).getTime() - from.getTime();
      expect(at).toBeGreaterThanOrEqual(life * (2 / 3));
      expect(at).toBeLessThanOrEqual(life * (2 / 3) * 1.1);
    }
    expect(renewalTime(from, to, 'f'.repeat(64), 0.95).getTime()).toBeLessThan(to.getTime());
  });

  it('is stable for one certificate and spread across certificates', () => {
    const a = renewalTime(from, to, '12345678'.padEnd(64, '0'), 2 / 3);
    expect(renewalTime(from, to, '12345678'.padEnd(64, '0'), 2 / 3)).toEqual(a);
    expect(renewalTime(from, to, '9abcdef0'.padEnd(64, '0'), 2 / 3)).not.toEqual(a);
  });
});
