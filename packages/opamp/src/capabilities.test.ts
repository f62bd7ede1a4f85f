import { describe, expect, it } from 'vitest';
import { AgentCapabilities, ServerCapabilities } from './gen/opamp_pb';
import {
  AgentCapability,
  DEFINED_AGENT_CAPABILITIES,
  DEFINED_SERVER_CAPABILITIES,
  ServerCapability,
  agentCapabilityNames,
  combine,
  has,
  serverCapabilities,
  serverCapabilityNames,
} from './capabilities';

describe('capability bits', () => {
  it('match the generated enums bit for bit', () => {
    for (const [name, bit] of Object.entries(AgentCapability)) {
      const member = AgentCapabilities[`AgentCapabilities_${name}` as keyof typeof AgentCapabilities];
      expect(BigInt(member), name).toBe(bit);
    }
    for (const [name, bit] of Object.entries(ServerCapability)) {
      const member = ServerCapabilities[`ServerCapabilities_${name}` as keyof typeof ServerCapabilities];
      expect(BigInt(member), name).toBe(bit);
    }
    expect(DEFINED_AGENT_CAPABILITIES).toBe(0xffffn);
    expect(DEFINED_SERVER_CAPABILITIES).toBe(0x7fn);
  });

  it('has() accepts enum members, numbers and bigints, and needs every bit of the flag', () => {
    const caps = combine(
      AgentCapability.ReportsStatus,
      AgentCapabilities.AgentCapabilities_AcceptsRemoteConfig,
    );
    expect(has(caps, AgentCapability.AcceptsRemoteConfig)).toBe(true);
    expect(has(caps, AgentCapabilities.AgentCapabilities_ReportsHealth)).toBe(false);
    expect(has(caps, 0x3)).toBe(true);
    expect(has(caps, 0x7)).toBe(false);
    expect(has(caps, 0)).toBe(false);
  });

  it('S-4, S-5: advertised server capabilities always include AcceptsStatus and never undefined bits', () => {
    expect(serverCapabilities(0n)).toBe(0x1n);
    expect(serverCapabilities(ServerCapability.OffersRemoteConfig, 0x80n, 1n << 40n)).toBe(0x3n);
    expect(serverCapabilities(~0n)).toBe(0x7fn);
  });

  it('A-5: names decode known bits and surface unknown ones without failing', () => {
    expect(agentCapabilityNames(0x1003n)).toEqual([
      'ReportsStatus',
      'AcceptsRemoteConfig',
      'ReportsRemoteConfig',
    ]);
    expect(agentCapabilityNames(0x10001n)).toEqual(['ReportsStatus', 'Unknown(0x10000)']);
    expect(serverCapabilityNames(0x21n)).toEqual(['AcceptsStatus', 'OffersConnectionSettings']);
    expect(agentCapabilityNames(0n)).toEqual([]);
  });
});
