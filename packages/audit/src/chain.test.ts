import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical.js';
import { canonicalRecordText, chainedContent, computeRecordHash, GENESIS_HASH } from './chain.js';
import type { AuditRecord } from './chain.js';
import { normalizeAuditEvent } from './events.js';

function record(extra: Partial<AuditRecord> = {}): Omit<AuditRecord, 'hash'> {
  const event = normalizeAuditEvent(
    {
      tenantId: '00000000-0000-7000-8000-000000000001',
      actor: { kind: 'peer', id: 'peer-1', name: 'Zürich "DC"' },
      action: 'federation.agents.read',
      entity: { type: 'agent', id: null },
      before: { z: [1, { b: 2, a: '\u0000' }], a: -0 },
      after: null,
      outcome: 'failure',
      sourceIp: '2001:db8::1',
      userAgent: null,
      requestId: 'r\n1',
    },
    new Date('2025-01-02T03:04:05.006Z'),
  );
  return {
    ...event,
    id: '0190f5a4-0000-7000-8000-000000000009',
    seq: 42,
    prevHash: 'ab'.repeat(32),
    ...extra,
  };
}

describe('record hashing', () => {
  it('writes the fixed row layout exactly as the generic canonical encoder would', () => {
    for (const r of [
      record(),
      record({
        entity: { type: 'x', id: 'e-1' },
        after: [{ é: '😀' }],
        userAgent: 'ua',
        sourceIp: null,
        requestId: null,
      }),
      record({
        seq: 1,
        prevHash: GENESIS_HASH,
        before: null,
        actor: { kind: 'system', id: 'job', name: 'retention' },
      }),
    ]) {
      expect(canonicalRecordText(r)).toBe(canonicalJson(chainedContent(r)));
    }
  });

  it('hashes prev_hash as raw bytes followed by the canonical row', () => {
    const r = record();
    const expected = createHash('sha256')
      .update(
        Buffer.concat([
          Buffer.from(r.prevHash, 'hex'),
          Buffer.from(canonicalJson(chainedContent(r)), 'utf8'),
        ]),
      )
      .digest('hex');
    expect(computeRecordHash(r)).toBe(expected);
  });

  it('changes when any hashed field changes', () => {
    const base = computeRecordHash(record());
    const variants: Array<Partial<AuditRecord>> = [
      { seq: 43 },
      { prevHash: 'cd'.repeat(32) },
      { id: '0190f5a4-0000-7000-8000-00000000000a' },
      { time: new Date('2025-01-02T03:04:05.007Z') },
      { actor: { kind: 'peer', id: 'peer-1', name: 'Zurich' } },
      { action: 'federation.agents.list' },
      { entity: { type: 'agent', id: '' } },
      { before: { z: [1, { b: 2, a: '\ufffd' }], a: 1 } },
      { after: {} },
      { outcome: 'success' },
      { sourceIp: null },
      { userAgent: 'x' },
      { requestId: null },
    ];
    for (const v of variants) expect(computeRecordHash(record(v))).not.toBe(base);
  });
});
