import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configurationMarkdown, describeConfig } from './describe-config.js';

describe('configuration reference', () => {
  it('lists every setting with its environment name', () => {
    const envs = describeConfig().map((d) => d.env);
    expect(envs).toContain('AMPORA_OPAMP_MAX_MESSAGE_BYTES');
    expect(envs).toContain('AMPORA_KEY_PROTECTION_MASTER_KEY');
    expect(new Set(envs).size).toBe(envs.length);
  });

  it('docs/configuration.md is up to date (run `npm run docs:config`)', () => {
    const file = readFileSync(path.resolve(import.meta.dirname, '../../../../docs/configuration.md'), 'utf8');
    expect(file).toBe(configurationMarkdown());
  });
});
