import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope, SEALED_STRING_PREFIX } from './envelope';
import type { Envelope } from './envelope';
import { InvalidMasterKeyError, KeyProtectorError } from './errors';
import type { KeyProtectorErrorCode } from './errors';
import { createKeyProtector } from './key-protector';
import { masterKeyId } from './master-key';
import { createSoftwareProvider } from './software-provider';

const AAD = 'oidc_clients:client_secret:0190f1c2-0000-7000-8000-000000000001';
const SECRET = 'client-secret-value-that-must-stay-hidden';

async function rejection(promise: Promise<unknown>): Promise<KeyProtectorError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(KeyProtectorError);
    return err as KeyProtectorError;
  }
  throw new Error('expected a KeyProtectorError');
}

function thrown(fn: () => unknown): KeyProtectorError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(KeyProtectorError);
    return err as KeyProtectorError;
  }
  throw new Error('expected a KeyProtectorError');
}

async function expectCode(
  promise: Promise<unknown>,
  code: KeyProtectorErrorCode,
): Promise<KeyProtectorError> {
  const err = await rejection(promise);
  expect(err.code).toBe(code);
  return err;
}

function flipBit(buf: Buffer, index = 0): Buffer {
  const copy = Buffer.from(buf);
  copy[index] = (copy[index] ?? 0) ^ 0x01;
  return copy;
}

function alter(sealed: Buffer, field: keyof Envelope): Buffer {
  const envelope = decodeEnvelope(sealed);
  return encodeEnvelope({ ...envelope, [field]: flipBit(envelope[field], envelope[field].length - 1) });
}

describe('seal and open', () => {
  const master = randomBytes(32);
  const keys = createKeyProtector({ master });

  it('round-trips bytes and text, in the binary and the amp:v1 text form', async () => {
    const bytes = randomBytes(100);
    expect((await keys.open(await keys.seal(bytes, AAD), AAD)).equals(bytes)).toBe(true);

    const text = await keys.sealToString(SECRET, AAD);
    expect(text.startsWith(SEALED_STRING_PREFIX)).toBe(true);
    expect(text).toMatch(/^amp:v1:[A-Za-z0-9_-]+$/);
    expect(await keys.openToString(text, AAD)).toBe(SECRET);
    expect((await keys.open(await keys.seal('', AAD), AAD)).length).toBe(0);
  });

  it('writes a header naming the version, scheme and master key id', async () => {
    const sealed = await keys.seal(SECRET, AAD);
    expect(sealed[0]).toBe(1);
    expect(sealed[1]).toBe(1);
    expect(decodeEnvelope(sealed).keyId.equals(masterKeyId(master))).toBe(true);
    expect(keys.keyId).toBe(masterKeyId(master).toString('hex'));
  });

  it('uses a fresh data key and nonce for every seal, so equal plaintexts give unrelated values', async () => {
    const a = decodeEnvelope(await keys.seal(SECRET, AAD));
    const b = decodeEnvelope(await keys.seal(SECRET, AAD));
    expect(a.nonce.equals(b.nonce)).toBe(false);
    expect(a.wrappedDek.equals(b.wrappedDek)).toBe(false);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
    expect(a.ciphertext.includes(Buffer.from(SECRET))).toBe(false);
  });

  it('refuses to open a value under a different AAD (another row or column)', async () => {
    const sealed = await keys.seal(SECRET, AAD);
    await expectCode(keys.open(sealed, AAD.replace('0001', '0002')), 'tampered');
    await expectCode(keys.open(sealed, 'oidc_clients:other_column:0190f1c2'), 'tampered');
  });

  it.each(['ciphertext', 'tag', 'nonce', 'wrappedDek'] as const)('detects a tampered %s', async (field) => {
    const sealed = await keys.seal(SECRET, AAD);
    await expectCode(keys.open(alter(sealed, field), AAD), 'tampered');
  });

  it('detects a data key swapped in from another value', async () => {
    const victim = decodeEnvelope(await keys.seal(SECRET, AAD));
    const donor = decodeEnvelope(await keys.seal('other', AAD));
    await expectCode(keys.open(encodeEnvelope({ ...victim, wrappedDek: donor.wrappedDek }), AAD), 'tampered');
  });

  it('reports a key id it does not know as unknown_key_id', async () => {
    const sealed = await keys.seal(SECRET, AAD);
    const err = await expectCode(keys.open(alter(sealed, 'keyId'), AAD), 'unknown_key_id');
    expect(err.keyId).toMatch(/^[0-9a-f]{16}$/);
  });

  it('rejects values that are not envelopes as malformed', async () => {
    const sealed = await keys.seal(SECRET, AAD);
    const text = await keys.sealToString(SECRET, AAD);
    const wrongVersion = Buffer.from(sealed);
    wrongVersion[0] = 2;
    const wrongScheme = Buffer.from(sealed);
    wrongScheme[1] = 9;
    const cases: Array<Uint8Array | string> = [
      Buffer.alloc(0),
      sealed.subarray(0, 20),
      sealed.subarray(0, 12 + 60 + 12 + 15),
      wrongVersion,
      wrongScheme,
      text.replace('amp:v1:', 'amp:v2:'),
      text.slice(SEALED_STRING_PREFIX.length),
      `${text}!`,
      `${text}=`,
      SECRET,
    ];
    for (const input of cases) await expectCode(keys.open(input, AAD), 'malformed');
  });

  it('requires a non-empty AAD', async () => {
    await expect(keys.seal(SECRET, '')).rejects.toThrow(TypeError);
    await expect(keys.open(await keys.seal(SECRET, AAD), '')).rejects.toThrow(TypeError);
  });

  it('cannot open values sealed under another master key', async () => {
    const sealed = await keys.seal(SECRET, AAD);
    const other = createKeyProtector({ master: randomBytes(32) });
    await expectCode(other.open(sealed, AAD), 'unknown_key_id');
  });
});

describe('master key rotation', () => {
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);
  const before = createKeyProtector({ master: oldKey });
  const during = createKeyProtector({ master: newKey, previous: oldKey });
  const after = createKeyProtector({ master: newKey });

  it('opens values under the previous key and seals new ones under the current key', async () => {
    const old = await before.sealToString(SECRET, AAD);
    expect(await during.openToString(old, AAD)).toBe(SECRET);
    expect(during.needsRewrap(old)).toBe(true);
    const fresh = await during.seal(SECRET, AAD);
    expect(during.needsRewrap(fresh)).toBe(false);
    expect(await after.openToString(fresh, AAD)).toBe(SECRET);
  });

  it('rewraps only the data key, keeping nonce, tag and ciphertext', async () => {
    const old = await before.seal(SECRET, AAD);
    const rewrapped = await during.rewrap(old, AAD);
    expect(Buffer.isBuffer(rewrapped)).toBe(true);
    const a = decodeEnvelope(old);
    const b = decodeEnvelope(rewrapped);
    expect(b.keyId.equals(masterKeyId(newKey))).toBe(true);
    expect(b.wrappedDek.equals(a.wrappedDek)).toBe(false);
    expect(b.nonce.equals(a.nonce)).toBe(true);
    expect(b.tag.equals(a.tag)).toBe(true);
    expect(b.ciphertext.equals(a.ciphertext)).toBe(true);
    expect(during.needsRewrap(rewrapped)).toBe(false);
    expect(await after.openToString(rewrapped, AAD)).toBe(SECRET);
    await expectCode(before.open(rewrapped, AAD), 'unknown_key_id');
  });

  it('is idempotent: a value already on the current key comes back unchanged, in its own form', async () => {
    const text = await during.rewrap(await before.sealToString(SECRET, AAD), AAD);
    expect(text.startsWith(SEALED_STRING_PREFIX)).toBe(true);
    expect(await during.rewrap(text, AAD)).toBe(text);
    const bytes = await during.seal(SECRET, AAD);
    expect((await during.rewrap(bytes, AAD)).equals(bytes)).toBe(true);
  });

  it('refuses to rewrap under the wrong AAD or with damaged data', async () => {
    const old = await before.seal(SECRET, AAD);
    await expectCode(during.rewrap(old, `${AAD}x`), 'tampered');
    await expectCode(during.rewrap(alter(old, 'ciphertext'), AAD), 'tampered');
  });

  it('reports values under a key that is neither current nor previous', async () => {
    const foreign = await createKeyProtector({ master: randomBytes(32) }).seal(SECRET, AAD);
    expect(thrown(() => during.needsRewrap(foreign)).code).toBe('unknown_key_id');
    await expectCode(during.rewrap(foreign, AAD), 'unknown_key_id');
    expect(thrown(() => during.needsRewrap('amp:v1:AA')).code).toBe('malformed');
  });

  it('refuses a previous key equal to the master key, or keys of the wrong size', () => {
    expect(() => createKeyProtector({ master: newKey, previous: Buffer.from(newKey) })).toThrow(
      InvalidMasterKeyError,
    );
    expect(() => createKeyProtector({ master: randomBytes(16) })).toThrow(/AMPORA_KEY_PROTECTION_MASTER_KEY/);
    expect(() => createKeyProtector({ master: newKey, previous: randomBytes(24) })).toThrow(
      /AMPORA_KEY_PROTECTION_PREVIOUS_MASTER_KEY/,
    );
  });
});

describe('key check canary', () => {
  const master = randomBytes(32);
  const keys = createKeyProtector({ master });

  it('verifies against the key it was written with', async () => {
    const canary = await keys.keyCheck();
    expect(await keys.verifyKeyCheck(canary)).toBe('current');
  });

  it('fails with wrong_key when the configured master key is not the one the data was written with', async () => {
    const canary = await keys.keyCheck();
    const wrong = createKeyProtector({ master: randomBytes(32) });
    await expectCode(wrong.verifyKeyCheck(canary), 'wrong_key');
  });

  it('reports previous during a rotation, and current once the canary is rewrapped', async () => {
    const canary = await keys.keyCheck();
    const rotated = createKeyProtector({ master: randomBytes(32), previous: master });
    expect(await rotated.verifyKeyCheck(canary)).toBe('previous');
    expect(await rotated.verifyKeyCheck(await rotated.keyCheck())).toBe('current');
  });

  it('does not accept an ordinary sealed value or a damaged canary as a canary', async () => {
    await expectCode(keys.verifyKeyCheck(await keys.seal('ampora key check v1', AAD)), 'tampered');
    await expectCode(keys.verifyKeyCheck(alter(await keys.seal('x', 'ampora:key-check'), 'tag')), 'tampered');
    await expectCode(keys.verifyKeyCheck(await keys.seal('not the canary', 'ampora:key-check')), 'tampered');
    await expectCode(keys.verifyKeyCheck('not a canary'), 'malformed');
  });
});

describe('a provider that wraps data keys', () => {
  const master = randomBytes(32);
  const providerKey = randomBytes(32);
  const software = createKeyProtector({ master });
  const provider = createSoftwareProvider({ master: providerKey, protector: software });
  const keys = createKeyProtector({ master, provider });

  it('wraps new values under the provider, and moves values under the master key to it on rewrap', async () => {
    const fresh = await keys.seal(SECRET, AAD);
    expect(decodeEnvelope(fresh).keyId.equals(provider.wrappingKeyId)).toBe(true);
    expect(keys.keyId).toBe(provider.wrappingKeyId.toString('hex'));
    expect(keys.needsRewrap(fresh)).toBe(false);

    const legacy = await software.seal(SECRET, AAD);
    expect(keys.needsRewrap(legacy)).toBe(true);
    const moved = await keys.rewrap(legacy, AAD);
    expect(keys.needsRewrap(moved)).toBe(false);
    expect(await keys.openToString(moved, AAD)).toBe(SECRET);
    await expectCode(software.open(moved, AAD), 'unknown_key_id');
  });
});

describe('hmac and derived secrets', () => {
  const master = randomBytes(32);
  const keys = createKeyProtector({ master });

  it('gives a stable HMAC per purpose and master key', () => {
    const mac = keys.hmac('audit-secret-hmac', SECRET);
    expect(mac).toHaveLength(32);
    expect(createKeyProtector({ master }).hmac('audit-secret-hmac', SECRET).equals(mac)).toBe(true);
    expect(keys.hmac('audit-secret-hmac', Buffer.from(SECRET)).equals(mac)).toBe(true);
    expect(keys.hmac('audit-secret-hmac', `${SECRET}.`).equals(mac)).toBe(false);
    expect(keys.hmac('other-purpose', SECRET).equals(mac)).toBe(false);
    expect(
      createKeyProtector({ master: randomBytes(32) })
        .hmac('audit-secret-hmac', SECRET)
        .equals(mac),
    ).toBe(false);
  });

  it('verifies an HMAC under the current or the previous master key', () => {
    const mac = keys.hmac('audit-secret-hmac', SECRET);
    const rotated = createKeyProtector({ master: randomBytes(32), previous: master });
    expect(rotated.verifyHmac('audit-secret-hmac', SECRET, mac)).toBe(true);
    expect(rotated.verifyHmac('audit-secret-hmac', SECRET, rotated.hmac('audit-secret-hmac', SECRET))).toBe(
      true,
    );
    expect(rotated.verifyHmac('audit-secret-hmac', 'other', mac)).toBe(false);
    expect(rotated.verifyHmac('other-purpose', SECRET, mac)).toBe(false);
    expect(rotated.verifyHmac('audit-secret-hmac', SECRET, flipBit(mac))).toBe(false);
    expect(rotated.verifyHmac('audit-secret-hmac', SECRET, mac.subarray(0, 16))).toBe(false);
    expect(createKeyProtector({ master: randomBytes(32) }).verifyHmac('audit-secret-hmac', SECRET, mac)).toBe(
      false,
    );
  });

  it('derives stable, purpose-separated secrets that are not the HMAC key', () => {
    const password = keys.deriveSecret('db-app-role-password');
    expect(password).toHaveLength(32);
    expect(createKeyProtector({ master }).deriveSecret('db-app-role-password').equals(password)).toBe(true);
    expect(keys.deriveSecret('cookie-signing').equals(password)).toBe(false);
    expect(keys.deriveSecret('db-app-role-password', 64)).toHaveLength(64);
    expect(keys.deriveSecret('db-app-role-password', 64).subarray(0, 32).equals(password)).toBe(false);
    expect(password.includes(master)).toBe(false);
    // A caller that scrubs its copy must not change what the next caller gets.
    keys.deriveSecret('db-app-role-password').fill(0);
    expect(keys.deriveSecret('db-app-role-password').equals(password)).toBe(true);
  });

  it('rejects malformed purposes and out-of-range lengths', () => {
    expect(() => keys.hmac('', SECRET)).toThrow(TypeError);
    expect(() => keys.hmac('Has Spaces', SECRET)).toThrow(TypeError);
    expect(() => keys.deriveSecret('x'.repeat(65))).toThrow(TypeError);
    expect(() => keys.deriveSecret('cookie-signing', 8)).toThrow(RangeError);
    expect(() => keys.deriveSecret('cookie-signing', 65)).toThrow(RangeError);
  });
});

describe('errors never disclose secrets', () => {
  it('keeps key bytes and plaintext out of every failure', async () => {
    const master = randomBytes(32);
    const previous = randomBytes(32);
    const keys = createKeyProtector({ master, previous });
    const sealed = await keys.seal(SECRET, AAD);
    const forbidden = [
      SECRET,
      master.toString('hex'),
      master.toString('base64'),
      master.toString('base64url'),
      previous.toString('hex'),
      previous.toString('base64'),
    ];
    const errors: unknown[] = [];
    const collect = async (fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    };
    await collect(() => keys.open(sealed, 'wrong'));
    await collect(() => keys.open(alter(sealed, 'tag'), AAD));
    await collect(() => keys.open(alter(sealed, 'wrappedDek'), AAD));
    await collect(() => keys.open(alter(sealed, 'keyId'), AAD));
    await collect(() => keys.open(SECRET, AAD));
    await collect(() => createKeyProtector({ master: randomBytes(32) }).verifyKeyCheck(sealed));
    await collect(async () => createKeyProtector({ master, previous: master }));
    expect(errors).toHaveLength(7);
    for (const err of errors) {
      const rendered = [String(err), (err as Error).stack ?? '', JSON.stringify(err)].join('\n');
      for (const secret of forbidden) expect(rendered).not.toContain(secret);
      expect((err as Error).cause).toBeUndefined();
    }
  });
});
