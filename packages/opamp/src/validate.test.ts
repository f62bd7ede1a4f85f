import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import {
  AgentToServerSchema,
  ComponentHealthSchema,
  ConnectionSettingsStatusSchema,
  PackageStatusSchema,
  PackageStatusesSchema,
  RemoteConfigStatusSchema,
  ServerErrorResponseType,
  ServerToAgentSchema,
  type ComponentHealth,
} from './gen/opamp_pb';
import { badRequestFor, decodeAgentToServer, errorResponse } from './validate';

const UID = new Uint8Array(16).map((_, i) => i + 1);
const encode = (init: Parameters<typeof create<typeof AgentToServerSchema>>[1]) =>
  toBinary(AgentToServerSchema, create(AgentToServerSchema, { instanceUid: UID, ...init }));

/** Appends a raw varint field (wire type 0) to a message, to forge values the typed API refuses. */
function withVarintField(bytes: Uint8Array, fieldNumber: number, value: number): Uint8Array {
  const out = [...bytes, (fieldNumber << 3) | 0];
  let v = value;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return new Uint8Array(out);
}
/** Wraps bytes as a length-delimited field. */
function lengthDelimited(fieldNumber: number, body: Uint8Array): number[] {
  return [(fieldNumber << 3) | 2, body.length, ...body];
}

describe('decodeAgentToServer', () => {
  it('accepts a well-formed message and returns it decoded', () => {
    const res = decodeAgentToServer(encode({ sequenceNum: 7n, capabilities: 1n }));
    expect(res.ok).toBe(true);
    expect(res.ok && res.msg.sequenceNum).toBe(7n);
  });

  it('A-1: rejects an instance_uid that is not 16 bytes, including the legacy 26-char ULID', () => {
    for (const uid of [
      new Uint8Array(0),
      new Uint8Array(15),
      new TextEncoder().encode('01ARZ3NDEKTSV4RRFFQ69G5FAV'),
    ]) {
      const res = decodeAgentToServer(
        toBinary(AgentToServerSchema, create(AgentToServerSchema, { instanceUid: uid })),
      );
      expect(res).toMatchObject({ ok: false, reason: 'bad_uid' });
      expect(!res.ok && res.instanceUid?.length).toBe(uid.length);
    }
  });

  it('A-5: ignores unknown fields and unknown capability/flag bits from newer agents', () => {
    let bytes: Uint8Array = encode({ capabilities: 0x1n | (1n << 20n), flags: 0x80n });
    bytes = withVarintField(bytes, 99, 5);
    bytes = new Uint8Array([...bytes, ...lengthDelimited(100, new Uint8Array([1, 2, 3]))]);
    const res = decodeAgentToServer(bytes);
    expect(res.ok).toBe(true);
    expect(res.ok && res.msg.capabilities).toBe(0x1n | (1n << 20n));
    // Unknown fields are not retained, so they are not echoed anywhere.
    expect(res.ok && res.msg.$unknown).toBeUndefined();
  });

  it('rejects undefined enum values in RemoteConfigStatus.status as bad_enum', () => {
    const status = toBinary(RemoteConfigStatusSchema, create(RemoteConfigStatusSchema, {}));
    const forged = withVarintField(status, 2, 9);
    const bytes = new Uint8Array([...encode({}), ...lengthDelimited(7, forged)]);
    const res = decodeAgentToServer(bytes);
    expect(res).toMatchObject({ ok: false, reason: 'bad_enum' });
    expect(!res.ok && res.detail).toContain('remote_config_status.status');
  });

  it('rejects undefined enum values in ConnectionSettingsStatus and nested PackageStatus maps', () => {
    const css = withVarintField(
      toBinary(ConnectionSettingsStatusSchema, create(ConnectionSettingsStatusSchema)),
      2,
      4,
    );
    const cssRes = decodeAgentToServer(new Uint8Array([...encode({}), ...lengthDelimited(15, css)]));
    expect(cssRes).toMatchObject({ ok: false, reason: 'bad_enum' });

    const pkg = withVarintField(
      toBinary(PackageStatusSchema, create(PackageStatusSchema, { name: 'p' })),
      6,
      5,
    );
    const entry = new Uint8Array([
      ...lengthDelimited(1, new TextEncoder().encode('p')),
      ...lengthDelimited(2, pkg),
    ]);
    const statuses = new Uint8Array(lengthDelimited(1, entry));
    const res = decodeAgentToServer(new Uint8Array([...encode({}), ...lengthDelimited(8, statuses)]));
    expect(res).toMatchObject({ ok: false, reason: 'bad_enum' });
    expect(!res.ok && res.detail).toContain('PackageStatusEnum');
  });

  it('accepts every defined enum value (including Downloading, P-11)', () => {
    const bytes = encode({
      remoteConfigStatus: { status: 3, errorMessage: 'x' },
      connectionSettingsStatus: { status: 2 },
      packageStatuses: create(PackageStatusesSchema, {
        packages: { a: { name: 'a', status: 4, downloadDetails: { downloadPercent: 50 } } },
      }),
    });
    expect(decodeAgentToServer(bytes).ok).toBe(true);
  });

  it('T-19: checks the size cap before decoding', () => {
    const bytes = encode({ agentDescription: { identifyingAttributes: [{ key: 'k', value: {} }] } });
    expect(decodeAgentToServer(bytes, { maxBytes: bytes.length }).ok).toBe(true);
    const res = decodeAgentToServer(bytes, { maxBytes: bytes.length - 1 });
    expect(res).toMatchObject({ ok: false, reason: 'too_large' });
    // Garbage over the limit is reported as too large, proving no decode was attempted.
    expect(decodeAgentToServer(new Uint8Array(11).fill(0xff), { maxBytes: 10 })).toMatchObject({
      reason: 'too_large',
    });
  });

  it('rejects bytes that are not an AgentToServer as malformed', () => {
    expect(decodeAgentToServer(new Uint8Array([0xff, 0xff, 0xff]))).toMatchObject({
      ok: false,
      reason: 'malformed',
    });
    // A string field with invalid UTF-8.
    const bad = new Uint8Array([
      ...encode({}),
      ...lengthDelimited(13, new Uint8Array(lengthDelimited(1, new Uint8Array([0xc3, 0x28])))),
    ]);
    expect(decodeAgentToServer(bad)).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('T-7: an empty payload decodes but fails the uid check', () => {
    expect(decodeAgentToServer(new Uint8Array(0))).toMatchObject({ ok: false, reason: 'bad_uid' });
  });

  it('H-2: accepts deep component health trees with attributes, and rejects nesting beyond the cap', () => {
    const nest = (depth: number): ComponentHealth => {
      let h = create(ComponentHealthSchema, { healthy: true, attributes: [{ key: 'a', value: {} }] });
      for (let i = 0; i < depth; i++)
        h = create(ComponentHealthSchema, { componentHealthMap: { [`c${i}`]: h } });
      return h;
    };
    const ok = decodeAgentToServer(encode({ health: nest(30) }));
    expect(ok.ok).toBe(true);
    const deep = decodeAgentToServer(encode({ health: nest(30) }), { maxDepth: 20 });
    expect(deep).toMatchObject({ ok: false, reason: 'too_deep' });
  });
});

describe('error replies', () => {
  it('S-10, ER-2, ER-3: carry only instance_uid and error_response', () => {
    const reply = errorResponse(UID, 'bad_request', 'instance_uid must be 16 bytes');
    const wire = fromBinary(ServerToAgentSchema, toBinary(ServerToAgentSchema, reply));
    expect(wire.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
    expect(wire.errorResponse?.errorMessage).toBe('instance_uid must be 16 bytes');
    expect(wire.instanceUid).toEqual(UID);
    expect(wire.capabilities).toBe(0n);
    expect(wire.flags).toBe(0n);
    for (const field of [
      'remoteConfig',
      'connectionSettings',
      'packagesAvailable',
      'agentIdentification',
      'command',
      'customCapabilities',
      'customMessage',
    ] as const) {
      expect(wire[field], field).toBeUndefined();
    }
  });

  it('TH-2, ER-5: retry_info goes with Unavailable only, in nanoseconds', () => {
    const reply = errorResponse(UID, 'unavailable', 'overloaded', 30_000);
    expect(reply.errorResponse?.Details).toEqual({
      case: 'retryInfo',
      value: expect.objectContaining({ retryAfterNanoseconds: 30_000_000_000n }),
    });
    expect(() => errorResponse(UID, 'bad_request', 'x', 1000)).toThrow(TypeError);
    expect(() => errorResponse(UID, 'unavailable', 'x', -1)).toThrow(RangeError);
    expect(errorResponse(UID, 'unavailable', 'x').errorResponse?.Details.case).toBeUndefined();
  });

  it('ER-6: the unknown kind maps to type Unknown', () => {
    expect(errorResponse(UID, 'unknown', 'x').errorResponse?.type).toBe(0);
  });

  it('ER-1: badRequestFor answers a failed validation, preferring a well-formed uid', () => {
    const res = decodeAgentToServer(new Uint8Array([0xff]));
    if (res.ok) throw new Error('expected failure');
    expect(badRequestFor(res, UID).instanceUid).toEqual(UID);
    expect(badRequestFor(res).instanceUid.length).toBe(0);
    const badUid = decodeAgentToServer(
      toBinary(AgentToServerSchema, create(AgentToServerSchema, { instanceUid: new Uint8Array(3) })),
    );
    if (badUid.ok) throw new Error('expected failure');
    expect(badRequestFor(badUid, UID).instanceUid).toEqual(UID);
    expect(badRequestFor(badUid).instanceUid.length).toBe(3);
    expect(badRequestFor(badUid).errorResponse?.type).toBe(
      ServerErrorResponseType.ServerErrorResponseType_BadRequest,
    );
  });
});
