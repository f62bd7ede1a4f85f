import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { InvalidMasterKeyError } from './errors';
import {
  MASTER_KEY_SETTING,
  PREVIOUS_MASTER_KEY_SETTING,
  generateMasterKey,
  masterKeyId,
  parseMasterKey,
  parsePreviousMasterKey,
} from './master-key';

function captureError(fn: () => unknown): InvalidMasterKeyError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidMasterKeyError);
    return err as InvalidMasterKeyError;
  }
  throw new Error('expected an InvalidMasterKeyError');
}

describe('parseMasterKey', () => {
  const key = randomBytes(32);

  it('reads standard base64, URL-safe base64 without padding, and ignores surrounding whitespace', () => {
    expect(parseMasterKey(key.toString('base64')).equals(key)).toBe(true);
    expect(parseMasterKey(key.toString('base64url')).equals(key)).toBe(true);
    expect(parseMasterKey(`  ${key.toString('base64')}\n`).equals(key)).toBe(true);
  });

  it('rejects a key of the wrong length, naming the setting and the expected size but not the value', () => {
    const short = randomBytes(16).toString('base64');
    const err = captureError(() => parseMasterKey(short));
    expect(err.setting).toBe(MASTER_KEY_SETTING);
    expect(err.message).toContain(MASTER_KEY_SETTING);
    expect(err.message).toContain('32 bytes');
    expect(err.message).toContain('has 16');
    expect(err.message).not.toContain(short);

    const long = randomBytes(33).toString('base64');
    expect(captureError(() => parseMasterKey(long)).message).toContain('has 33');
  });

  it('rejects an unset value, text that is not base64, and a placeholder key', () => {
    expect(captureError(() => parseMasterKey(undefined)).message).toBe(`${MASTER_KEY_SETTING} is not set.`);
    expect(captureError(() => parseMasterKey('   ')).message).toBe(`${MASTER_KEY_SETTING} is not set.`);
    const notBase64 = captureError(() => parseMasterKey('this is not base64!'));
    expect(notBase64.message).toContain('base64');
    expect(notBase64.message).not.toContain('this is not');
    expect(captureError(() => parseMasterKey(Buffer.alloc(32).toString('base64'))).message).toContain(
      'placeholder',
    );
  });

  it('names the previous-key setting when that one is wrong, and treats it as optional', () => {
    expect(parsePreviousMasterKey(undefined)).toBeUndefined();
    expect(parsePreviousMasterKey('')).toBeUndefined();
    expect(parsePreviousMasterKey(key.toString('base64'))?.equals(key)).toBe(true);
    const err = captureError(() => parsePreviousMasterKey(randomBytes(31).toString('base64')));
    expect(err.setting).toBe(PREVIOUS_MASTER_KEY_SETTING);
    expect(err.message).toContain(PREVIOUS_MASTER_KEY_SETTING);
  });

  it('generates keys that parse back to 32 distinct bytes', () => {
    const a = parseMasterKey(generateMasterKey());
    const b = parseMasterKey(generateMasterKey());
    expect(a).toHaveLength(32);
    expect(a.equals(b)).toBe(false);
  });
});

describe('masterKeyId', () => {
  it('is an 8-byte fingerprint that is stable per key and differs between keys', () => {
    const key = randomBytes(32);
    expect(masterKeyId(key)).toHaveLength(8);
    expect(masterKeyId(key).equals(masterKeyId(Buffer.from(key)))).toBe(true);
    expect(masterKeyId(key).equals(masterKeyId(randomBytes(32)))).toBe(false);
  });
});
