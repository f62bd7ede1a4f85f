import { describe, expect, it } from 'vitest';
import { buildRemoteConfig, configToResend } from './remote-config.js';

const files = { '': { body: Buffer.from('receivers: {}\n'), contentType: 'text/yaml' } };

describe('remote config', () => {
  it('R-2, R-3: the hash is set and depends only on the files, not on their order', () => {
    const a = buildRemoteConfig({
      b: { body: Buffer.from('2'), contentType: 'x' },
      a: { body: Buffer.from('1'), contentType: 'x' },
    });
    const b = buildRemoteConfig({
      a: { body: Buffer.from('1'), contentType: 'x' },
      b: { body: Buffer.from('2'), contentType: 'x' },
    });
    const c = buildRemoteConfig({
      a: { body: Buffer.from('1'), contentType: 'y' },
      b: { body: Buffer.from('2'), contentType: 'x' },
    });
    if (!a.ok || !b.ok || !c.ok) throw new Error('unexpected refusal');
    expect(a.hashHex).toMatch(/^[0-9a-f]{64}$/);
    expect(a.hashHex).toBe(b.hashHex);
    expect(c.hashHex).not.toBe(a.hashHex);
    expect(Buffer.from(a.remoteConfig.configHash).toString('hex')).toBe(a.hashHex);
  });

  it('refuses an empty config map', () => {
    expect(buildRemoteConfig({})).toEqual({ ok: false, reason: 'a remote config needs at least one file' });
  });

  it('resends only when the agent does not already run the assigned config', () => {
    const built = buildRemoteConfig(files);
    if (!built.ok) throw new Error('unexpected refusal');
    const row = { remote_config: built.json, remote_config_hash: built.hashHex, remote_config_status: null };
    expect(Buffer.from(configToResend(row, undefined)!.configHash).toString('hex')).toBe(built.hashHex);
    expect(configToResend(row, Buffer.from(built.hashHex, 'hex'))).toBeUndefined();
    const stored = { lastRemoteConfigHash: Buffer.from(built.hashHex, 'hex').toString('base64') };
    expect(configToResend({ ...row, remote_config_status: stored }, undefined)).toBeUndefined();
    expect(configToResend({ ...row, remote_config_status: stored }, Buffer.from('00', 'hex'))).toBeDefined();
    expect(
      configToResend(
        { remote_config: null, remote_config_hash: null, remote_config_status: null },
        undefined,
      ),
    ).toBeUndefined();
  });
});
