import { describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { configMapHash } from './config-hash';
import { AgentConfigMapSchema } from './gen/opamp_pb';

const utf8 = (s: string) => new TextEncoder().encode(s);

describe('configMapHash', () => {
  const files = {
    'b.yaml': { contentType: 'text/yaml', body: utf8('x: 1\n') },
    'é.yaml': { contentType: '', body: utf8('ü') },
  };

  it('keeps the value agents already have stored, non-ASCII names included', () => {
    const map = create(AgentConfigMapSchema, { configMap: files });
    expect(configMapHash(map)).toBe('de7f3c1254672e307a2b48ed8843501de2786b3c46f73a7b002959b2338c9a5a');
  });

  it('does not depend on the order of the map', () => {
    const reversed = create(AgentConfigMapSchema, {
      configMap: { 'é.yaml': files['é.yaml'], 'b.yaml': files['b.yaml'] },
    });
    expect(configMapHash(reversed)).toBe(configMapHash(create(AgentConfigMapSchema, { configMap: files })));
  });

  it('hashes an absent map as an empty one', () => {
    expect(configMapHash(undefined)).toBe(configMapHash(create(AgentConfigMapSchema)));
  });
});
