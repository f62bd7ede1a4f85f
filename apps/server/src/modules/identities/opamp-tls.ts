import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { Config } from '../../config/index.js';
import type { Logger } from '../../observability/logger.js';
import type { PkiService } from '../pki/pki-types.js';

export interface OpampTlsDeps {
  config: Config;
  logger: Logger;
  pki: Pick<PkiService, 'trustBundlePem' | 'localServerTls'>;
  /** How often the trust bundle and the local server certificate are re-read. */
  refreshMs?: number;
}

interface Material {
  cert: string;
  key: string;
  /** CA certificates agents need to verify `cert`; undefined when it chains to a public root. */
  serverCaPem?: string;
  /** The trust bundle, when loading the material read it already (local mode). */
  trustBundle?: string;
}

/**
 * The OpAMP listener's TLS server. One listener serves both enrollment (server-authenticated TLS,
 * bootstrap token in a header) and enrolled agents (mutual TLS): the client certificate is
 * requested but not required by TLS itself, and admission decides on it before the upgrade. Agent
 * certificates are verified against Ampora's trust bundle, which is refreshed when keys rotate.
 */
export function createOpampTls(deps: OpampTlsDeps) {
  const opamp = deps.config.opamp;
  let trustBundle: string | undefined;
  let material: Material | undefined;
  let server: Server | undefined;
  let timer: NodeJS.Timeout | undefined;

  async function loadMaterial(): Promise<Material> {
    if (opamp.tlsCertFile && opamp.tlsKeyFile) {
      return {
        cert: readFileSync(opamp.tlsCertFile, 'utf8'),
        key: readFileSync(opamp.tlsKeyFile, 'utf8'),
        serverCaPem: opamp.tlsCaFile ? readFileSync(opamp.tlsCaFile, 'utf8') : undefined,
      };
    }
    // Local mode: a certificate for the local names, from Ampora's own CA (renewed by the PKI).
    const hostnames = [...new Set(['localhost', '127.0.0.1', ...(opamp.host ? [opamp.host] : [])])];
    const local = await deps.pki.localServerTls(hostnames);
    // Ampora's CA issued the server certificate, so the CA agents need is the trust bundle itself.
    return { cert: local.certPem, key: local.keyPem, serverCaPem: local.caPem, trustBundle: local.caPem };
  }

  function contextOptions() {
    return {
      cert: material!.cert,
      key: material!.key,
      ca: trustBundle,
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2' as const,
    };
  }

  async function refresh() {
    const next = await loadMaterial();
    const bundle = next.trustBundle ?? (await deps.pki.trustBundlePem());
    const changed = bundle !== trustBundle || next.cert !== material?.cert || next.key !== material?.key;
    trustBundle = bundle;
    material = next;
    if (changed && server) {
      server.setSecureContext(contextOptions());
      deps.logger.info('OpAMP listener TLS material reloaded');
    }
  }

  /** Runs `load` now and then periodically, so rotations and renewals are picked up. */
  async function keepLoading(load: () => Promise<void>, what: string) {
    await load();
    timer = setInterval(
      () => void load().catch((err) => deps.logger.error({ err }, `could not reload ${what}`)),
      deps.refreshMs ?? 60_000,
    );
    timer.unref();
  }

  return {
    async createServer(): Promise<Server> {
      await keepLoading(refresh, 'OpAMP TLS material');
      server = createServer(contextOptions());
      return server;
    },
    /** Re-reads now (after a CA rotation), rather than at the next tick. */
    refresh,
    /**
     * Without a TLS listener (plaintext experiments) only the trust bundle is needed, for offers;
     * it follows rotations as the TLS material does.
     */
    async watchBundle() {
      await keepLoading(async () => {
        trustBundle = await deps.pki.trustBundlePem();
      }, 'the trust bundle');
    },
    trustBundle: () => trustBundle,
    serverCaPem: () => material?.serverCaPem,
    stop() {
      clearInterval(timer);
    },
  };
}

export type OpampTls = ReturnType<typeof createOpampTls>;
