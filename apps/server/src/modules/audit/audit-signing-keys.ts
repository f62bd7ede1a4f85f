import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { sql } from 'kysely';
import type { CheckpointSigner } from '@ampora/audit';
import type { KeyProtector } from '@ampora/keys';
import type { Clock, Database, Tx } from '@ampora/db';

/** The AAD the private key is sealed with; the rewrap registry uses it too. */
export const auditSigningKeyAad = (keyId: string) => `audit_signing_keys:private_key:${keyId}`;

export interface AuditSigningKeysDeps {
  db: Database;
  keys: Pick<KeyProtector, 'sealToString' | 'open'>;
  clock: Clock;
}

export interface AuditSigningKeys {
  /** Creates the first signing key when there is none; returns the active key id. */
  ensureActiveKey(): Promise<string>;
  /** The signer of the active key, opened once and reused until another key becomes active. */
  signer(): Promise<CheckpointSigner>;
  /** Checks a checkpoint signature against any key ever used, active or retired. */
  verifySignature(keyId: string, payload: Buffer, signature: Buffer): Promise<boolean>;
  /** Retires the active key and activates a fresh one; old public keys stay for verification. */
  rotate(): Promise<string>;
}

interface GeneratedKey {
  keyId: string;
  publicKey: Buffer;
  sealedPrivateKey: string;
}

/**
 * Ed25519 keys for audit checkpoints: small, fast, deterministic signatures, and no parameters to
 * get wrong. The key id is derived from the public key, so it names the same key on every replica.
 */
export function createAuditSigningKeys(deps: AuditSigningKeysDeps): AuditSigningKeys {
  const { db } = deps;
  const publicKeys = new Map<string, KeyObject>();
  let cached: { keyId: string; privateKey: KeyObject } | undefined;

  // Generation and sealing happen before any transaction: sealing may be a KMS call.
  async function generate(): Promise<GeneratedKey> {
    const pair = generateKeyPairSync('ed25519');
    const publicKey = pair.publicKey.export({ format: 'der', type: 'spki' });
    const pkcs8 = pair.privateKey.export({ format: 'der', type: 'pkcs8' });
    const keyId = `audit-ed25519-${createHash('sha256').update(publicKey).digest('hex').slice(0, 16)}`;
    try {
      return {
        keyId,
        publicKey,
        sealedPrivateKey: await deps.keys.sealToString(pkcs8, auditSigningKeyAad(keyId)),
      };
    } finally {
      pkcs8.fill(0);
    }
  }

  // Key changes are serialised across replicas: the advisory lock is held until the transaction ends.
  function underKeyLock<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return db.transaction().execute(async (tx) => {
      await sql`select pg_advisory_xact_lock(hashtext('ampora:audit-signing-key'))`.execute(tx);
      return fn(tx);
    });
  }

  async function insertActive(tx: Tx, fresh: GeneratedKey) {
    await tx
      .insertInto('audit_signing_keys')
      .values({
        key_id: fresh.keyId,
        algorithm: 'ed25519',
        public_key: fresh.publicKey,
        private_key: fresh.sealedPrivateKey,
        status: 'active',
        created_at: deps.clock.now(),
        retired_at: null,
      })
      .execute();
  }

  async function activeRow() {
    return db
      .selectFrom('audit_signing_keys')
      .select(['key_id', 'private_key'])
      .where('status', '=', 'active')
      .executeTakeFirst();
  }

  async function ensureActiveKey(): Promise<string> {
    const existing = await activeRow();
    if (existing) return existing.key_id;
    const fresh = await generate();
    // Replicas starting together: the first one's key wins, the others discard theirs.
    return underKeyLock(async (tx) => {
      const current = await tx
        .selectFrom('audit_signing_keys')
        .select('key_id')
        .where('status', '=', 'active')
        .executeTakeFirst();
      if (current) return current.key_id;
      await insertActive(tx, fresh);
      return fresh.keyId;
    });
  }

  async function publicKeyOf(keyId: string): Promise<KeyObject | undefined> {
    const known = publicKeys.get(keyId);
    if (known) return known;
    const row = await db
      .selectFrom('audit_signing_keys')
      .select(['public_key'])
      .where('key_id', '=', keyId)
      .executeTakeFirst();
    if (!row) return undefined;
    const key = createPublicKey({ key: row.public_key, format: 'der', type: 'spki' });
    publicKeys.set(keyId, key);
    return key;
  }

  return {
    ensureActiveKey,

    async signer() {
      let row = await activeRow();
      if (!row) {
        await ensureActiveKey();
        row = await activeRow();
        if (!row) throw new Error('no active audit signing key');
      }
      if (cached?.keyId !== row.key_id) {
        const der = await deps.keys.open(row.private_key, auditSigningKeyAad(row.key_id));
        try {
          cached = {
            keyId: row.key_id,
            privateKey: createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }),
          };
        } finally {
          der.fill(0);
        }
      }
      const { keyId, privateKey } = cached;
      return { keyId, sign: (payload: Buffer) => sign(null, payload, privateKey) };
    },

    async verifySignature(keyId, payload, signature) {
      const key = await publicKeyOf(keyId);
      if (!key) return false;
      try {
        return verify(null, payload, key, signature);
      } catch {
        return false; // a malformed signature is a bad signature, not a crash
      }
    },

    async rotate() {
      const fresh = await generate();
      await underKeyLock(async (tx) => {
        await tx
          .updateTable('audit_signing_keys')
          .set({ status: 'retired', retired_at: deps.clock.now() })
          .where('status', '=', 'active')
          .execute();
        await insertActive(tx, fresh);
      });
      return fresh.keyId;
    },
  };
}
