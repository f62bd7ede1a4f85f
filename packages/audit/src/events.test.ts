import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AuditEventError, hmacSha256, normalizeAuditEvent, redact } from './events.js';
import type { NewAuditEvent } from './events.js';

const key = Buffer.alloc(32, 7);
const hmac = hmacSha256(key);
const expectedHmac = (data: string) => createHmac('sha256', key).update(data).digest('hex');

const base: NewAuditEvent = {
  tenantId: '00000000-0000-7000-8000-000000000001',
  actor: { kind: 'user', id: 'sub-1', name: 'Ada' },
  action: 'pki.certificate.revoke',
  entity: { type: 'certificate', id: 'abc' },
  outcome: 'success',
};

describe('redact', () => {
  it('replaces secret fields at any depth by their HMAC and keeps everything else', () => {
    const out = redact(
      {
        label: 'edge',
        token: 'amp-bs.secret',
        nested: [{ Secret: 'peer-secret', keep: 1 }],
        clientSecret: null,
      },
      ['token', 'secret', 'clientSecret'],
      hmac,
    );
    expect(out).toEqual({
      label: 'edge',
      token: `hmac:${expectedHmac('amp-bs.secret')}`,
      nested: [{ Secret: `hmac:${expectedHmac('peer-secret')}`, keep: 1 }],
      clientSecret: null,
    });
    expect(JSON.stringify(out)).not.toContain('amp-bs.secret');
    expect(JSON.stringify(out)).not.toContain('peer-secret');
  });

  it('HMACs non-string secrets over their JSON text', () => {
    expect(redact({ credentials: { user: 'u', pass: 'p' } }, ['credentials'], hmac)).toEqual({
      credentials: `hmac:${expectedHmac('{"user":"u","pass":"p"}')}`,
    });
  });

  it('gives the same HMAC for the same secret, so events can be correlated', () => {
    const a = redact({ token: 't1' }, ['token'], hmac) as { token: string };
    const b = redact({ token: 't1' }, ['token'], hmac) as { token: string };
    const c = redact({ token: 't2' }, ['token'], hmac) as { token: string };
    expect(a.token).toBe(b.token);
    expect(a.token).not.toBe(c.token);
  });
});

describe('normalizeAuditEvent', () => {
  const now = new Date('2025-03-01T12:00:00.123Z');

  it('fills version, time and explicit nulls', () => {
    expect(normalizeAuditEvent(base, now)).toEqual({
      v: 1,
      ...base,
      before: null,
      after: null,
      sourceIp: null,
      userAgent: null,
      requestId: null,
      time: now,
    });
  });

  it('keeps a given time and turns before/after into plain JSON', () => {
    const time = new Date('2024-01-01T00:00:00Z');
    const event = normalizeAuditEvent(
      { ...base, time, before: { at: time, n: 1n }, after: [undefined] },
      now,
    );
    expect(event.time).toEqual(time);
    expect(event.before).toEqual({ at: '2024-01-01T00:00:00.000Z', n: '1' });
    expect(event.after).toEqual([null]);
  });

  it('cuts an overlong user agent instead of failing the change', () => {
    expect(normalizeAuditEvent({ ...base, userAgent: 'x'.repeat(2000) }, now).userAgent).toHaveLength(512);
  });

  it('refuses malformed events', () => {
    const bad: Array<Partial<NewAuditEvent>> = [
      { action: 'Revoke' },
      { action: 'pki' },
      { action: 'pki.cert revoke' },
      { outcome: 'maybe' as never },
      { actor: { kind: 'robot' as never, id: 'x', name: 'y' } },
      { actor: { kind: 'user', id: '', name: 'y' } },
      { entity: { type: '', id: null } },
      { tenantId: '' },
      { time: new Date('invalid') },
    ];
    for (const patch of bad) {
      expect(() => normalizeAuditEvent({ ...base, ...patch }, now)).toThrow(AuditEventError);
    }
  });
});
