import { generateKeyPair } from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import { PkiError, pemEncode } from '@ampora/pki';
import { DEFAULT_TENANT_ID, withTenant } from '@ampora/db';
import type { ServerContext } from '../../runtime/context.js';
import { systemAuditContext } from '../audit/audit-recorder.js';
import { commonNameDn, type Certificates } from './certificates-service.js';
import { deleteServerTls, getServerTls, insertServerTls } from './pki-queries.js';
import type { PkiSettings } from './pki-settings.js';
import type { SigningKeys } from './signing-keys-service.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** The AAD the local server key is sealed with; `ampora keys rewrap` uses it too. */
export const serverTlsKeyAad = (id: string) => `ca_server_tls:key_pem:${id}`;

export interface ServerTlsDeps extends Pick<ServerContext, 'db' | 'clock' | 'ids' | 'audit' | 'keys'> {
  settings: PkiSettings;
  signingKeys: Pick<SigningKeys, 'trusted' | 'activeIssuer' | 'trustBundlePem'>;
  certificates: Pick<Certificates, 'sign' | 'record'>;
}

/**
 * The OpAMP listener's TLS material in local mode: a server certificate for the local host names
 * from Ampora's own CA, so a server with no configured certificate still never speaks plaintext.
 */
export function createServerTls(deps: ServerTlsDeps) {
  const { db, clock, ids, audit, settings, signingKeys, certificates } = deps;

  /**
   * A serverAuth certificate for the given host names from the Active key, kept in the database
   * so that replicas and restarts share it, and replaced with a third of its validity left or
   * once its issuer has left the trust bundle.
   */
  async function localServerTls(
    hostnames: string[],
    attempt = 1,
  ): Promise<{ certPem: string; keyPem: string; caPem: string }> {
    const names = [...new Set(hostnames.map((h) => h.trim().toLowerCase()).filter(Boolean))].sort();
    if (names.length === 0) throw new PkiError('invalid_argument', 'at least one host name is needed');
    const key = names.join(',');
    const now = clock.now();
    const trusted = new Set((await signingKeys.trusted()).map((k) => k.id));
    const existing = await getServerTls(db, key);
    const fresh =
      existing &&
      trusted.has(existing.signing_key_id) &&
      existing.not_after.getTime() - now.getTime() >
        (existing.not_after.getTime() - existing.not_before.getTime()) / 3;
    if (existing && fresh) {
      return {
        certPem: pemEncode(existing.cert_der, 'CERTIFICATE'),
        keyPem: await deps.keys.openToString(existing.key_pem, serverTlsKeyAad(existing.id)),
        caPem: await signingKeys.trustBundlePem(),
      };
    }

    const { privateKey, publicKey } = await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
    const issuer = await signingKeys.activeIssuer();
    const cert = await certificates.sign(issuer, {
      spki: publicKey.export({ format: 'der', type: 'spki' }),
      subject: commonNameDn(names[0]!),
      sans: { dns: names.filter((n) => isIP(n) === 0), ips: names.filter((n) => isIP(n) !== 0) },
      eku: ['serverAuth'],
      lifetimeMs: settings.serverCertLifetimeMs,
    });
    const keyPem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const id = ids.uuid();
    const sealedKey = await deps.keys.sealToString(keyPem, serverTlsKeyAad(id));
    const actx = systemAuditContext(DEFAULT_TENANT_ID, 'pki-local-tls');
    const stored = await withTenant(db, DEFAULT_TENANT_ID, async (tx) => {
      if (existing) await deleteServerTls(tx, existing.id);
      const inserted = await insertServerTls(tx, {
        id,
        hostnames: key,
        signing_key_id: cert.signingKeyId,
        key_pem: sealedKey,
        cert_der: cert.certDer,
        not_before: cert.notBefore,
        not_after: cert.notAfter,
      });
      if (!inserted) return false;
      const certId = await certificates.record(tx, cert, {
        tenantId: DEFAULT_TENANT_ID,
        agentId: null,
        kind: 'server-tls',
      });
      await audit.record(tx, actx, {
        action: 'pki.server-tls.issue',
        entity: { type: 'certificate', id: certId },
        after: { hostnames: names, fingerprint: cert.fingerprint, notAfter: cert.notAfter },
      });
      return true;
    });
    // Another replica stored one at the same moment: use theirs, so every replica serves one.
    if (!stored) {
      if (attempt >= 3) throw new Error('could not store the local server certificate');
      return localServerTls(hostnames, attempt + 1);
    }
    return { certPem: cert.certPem, keyPem, caPem: await signingKeys.trustBundlePem() };
  }

  return { localServerTls };
}

export type ServerTls = ReturnType<typeof createServerTls>;
