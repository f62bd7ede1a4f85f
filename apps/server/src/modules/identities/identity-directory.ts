import { withTenant } from '@ampora/db';
import type { ServerContext } from '../../runtime/context.js';
import type { AuditContext } from '../audit/audit-recorder.js';
import { byTenant, createBatchLoader } from '../../gateway/batch-loader.js';
import { boundUids, getCredential, promoteCredential } from './identities-queries.js';

export interface CredentialInfo {
  agentId: string;
  state: 'pending' | 'current' | 'superseded';
  keyOrigin: 'csr' | 'server';
  instanceUidHex: string;
  notBefore: Date;
  notAfter: Date;
}

export interface IdentityDirectoryDeps extends Pick<ServerContext, 'db' | 'clock' | 'audit'> {
  /** How long a looked-up credential is reused; every HTTP poll and handshake asks. */
  cacheMs: number;
  maxCached?: number;
}

/**
 * Enrolled identities by certificate fingerprint, as admission needs them at every handshake and
 * every HTTP poll. Lookups are cached briefly; a promotion, supersession or revocation on this
 * replica drops the entry at once, and revocation is checked separately against the PKI anyway.
 */
export function createIdentityDirectory(deps: IdentityDirectoryDeps) {
  const cache = new Map<string, { at: number; value: CredentialInfo | undefined }>();
  const max = deps.maxCached ?? 100_000;
  const keyOf = (tenantId: string, fingerprint: string) => `${tenantId}:${fingerprint}`;
  // First messages of a reconnecting fleet arrive together: one query answers a whole turn's worth.
  const bound = createBatchLoader<string, true>(async (keys) => {
    const found = new Map<string, true>();
    for (const [tenantId, uids] of byTenant(keys)) {
      const rows = await withTenant(deps.db, tenantId, (tx) =>
        boundUids(
          tx,
          uids.map((u) => Buffer.from(u, 'hex')),
        ),
      );
      for (const r of rows) found.set(`${tenantId}:${Buffer.from(r.instance_uid).toString('hex')}`, true);
    }
    return found;
  });

  return {
    async credential(tenantId: string, fingerprint: string): Promise<CredentialInfo | undefined> {
      const key = keyOf(tenantId, fingerprint);
      const now = deps.clock.now().getTime();
      const hit = cache.get(key);
      if (hit && now - hit.at < deps.cacheMs) return hit.value;
      const row = await withTenant(deps.db, tenantId, (tx) => getCredential(tx, fingerprint));
      const value: CredentialInfo | undefined = row && {
        agentId: row.agent_id,
        state: row.state,
        keyOrigin: row.key_origin,
        instanceUidHex: row.instance_uid.toString('hex'),
        notBefore: row.not_before,
        notAfter: row.not_after,
      };
      // A pending credential changes on first use, so it is never served from the cache.
      if (value?.state !== 'pending') {
        cache.delete(key);
        cache.set(key, { at: now, value });
        if (cache.size > max) cache.delete(cache.keys().next().value!);
      }
      return value;
    },

    /**
     * The agent connected with a renewed certificate: it becomes current and the older ones are
     * superseded (refused from now on, but not revoked: they were never compromised). Returns the
     * fingerprints that stopped working, so their live sessions can be closed.
     */
    async promote(ctx: AuditContext, agentId: string, fingerprint: string): Promise<string[]> {
      const now = deps.clock.now();
      const superseded = await withTenant(deps.db, ctx.tenantId, async (tx) => {
        const old = await promoteCredential(tx, agentId, fingerprint, now);
        if (!old) return [];
        await deps.audit.record(tx, ctx, {
          action: 'agent.certificate.activate',
          entity: { type: 'agent', id: agentId },
          before: { certificates: old.map((o) => ({ fingerprint: o.fingerprint, serial: o.serial_hex })) },
          after: { fingerprint, superseded: old.map((o) => o.fingerprint) },
        });
        return old.map((o) => o.fingerprint);
      });
      for (const fp of [fingerprint, ...superseded]) cache.delete(keyOf(ctx.tenantId, fp));
      return superseded;
    },

    async isBoundUid(tenantId: string, uidHex: string): Promise<boolean> {
      return (await bound.load(`${tenantId}:${uidHex}`)) === true;
    },

    invalidate(tenantId: string, fingerprint: string) {
      cache.delete(keyOf(tenantId, fingerprint));
    },
  };
}

export type IdentityDirectory = ReturnType<typeof createIdentityDirectory>;
