import { describe, expect, it } from 'vitest';
import { highestRole, parseRole, roleAtLeast } from './roles.js';

describe('roles', () => {
  it('orders viewer < operator < admin', () => {
    expect(roleAtLeast('admin', 'operator')).toBe(true);
    expect(roleAtLeast('operator', 'operator')).toBe(true);
    expect(roleAtLeast('operator', 'admin')).toBe(false);
    expect(roleAtLeast('viewer', 'operator')).toBe(false);
  });

  it('picks the highest role in a list', () => {
    expect(highestRole(['viewer', 'admin', 'operator'])).toBe('admin');
    expect(highestRole(['viewer', 'operator'])).toBe('operator');
    expect(highestRole([])).toBeUndefined();
  });

  it('parses role names case-insensitively and rejects anything else', () => {
    expect(parseRole('Admin')).toBe('admin');
    expect(parseRole(' OPERATOR ')).toBe('operator');
    expect(parseRole('viewer')).toBe('viewer');
    for (const bad of ['administrator', '', 'root', 'toString', 42, null, undefined]) {
      expect(parseRole(bad)).toBeUndefined();
    }
  });
});
