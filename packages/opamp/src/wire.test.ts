import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import {
  AgentConfigFileSchema,
  AgentToServerSchema,
  ServerToAgentCommandSchema,
  ServerToAgentSchema,
} from './gen/opamp_pb';

describe('generated wire format', () => {
  it('K-3: a Restart command is emitted as field 9 with zero length', () => {
    const bytes = toBinary(
      ServerToAgentSchema,
      create(ServerToAgentSchema, { command: create(ServerToAgentCommandSchema) }),
    );
    expect([...bytes]).toEqual([(9 << 3) | 2, 0]);
    expect(fromBinary(ServerToAgentSchema, bytes).command).toBeDefined();
  });

  it('uses the spec field numbers for AgentToServer (hand-encoded bytes)', () => {
    const bytes = new Uint8Array([
      0x0a,
      16,
      ...new Uint8Array(16).fill(7), // 1: instance_uid
      0x10,
      5, // 2: sequence_num
      0x20,
      0x81,
      0x20, // 4: capabilities = 0x1001
      0x50,
      1, // 10: flags
      0x4a,
      0, // 9: agent_disconnect (empty)
      0x7a,
      0, // 15: connection_settings_status
    ]);
    const msg = fromBinary(AgentToServerSchema, bytes);
    expect(msg.sequenceNum).toBe(5n);
    expect(msg.capabilities).toBe(0x1001n);
    expect(msg.flags).toBe(1n);
    expect(msg.agentDisconnect).toBeDefined();
    expect(msg.connectionSettingsStatus).toBeDefined();
  });

  it('carries AgentConfigFile.role as field 3 (spec v0.19+)', () => {
    const bytes = toBinary(AgentConfigFileSchema, create(AgentConfigFileSchema, { role: 'r' }));
    expect([...bytes]).toEqual([0x1a, 1, 'r'.charCodeAt(0)]);
  });
});
