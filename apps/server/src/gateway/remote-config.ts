import { createHash } from 'node:crypto';
import { AgentConfigMapSchema, AgentRemoteConfigSchema, create, type AgentRemoteConfig } from '@ampora/opamp';
import { fromJson, toJson } from '@bufbuild/protobuf';

export type RemoteConfigFiles = Record<string, { body: Buffer; contentType: string }>;

/**
 * Builds the AgentRemoteConfig for a set of files. The hash covers names, content types and bodies
 * in name order, so the same files always hash the same. An empty map is refused: the
 * Collector's supervisor stops the Collector when it receives one.
 */
export function buildRemoteConfig(
  files: RemoteConfigFiles,
):
  | { ok: true; remoteConfig: AgentRemoteConfig; hashHex: string; json: unknown }
  | { ok: false; reason: string } {
  const names = Object.keys(files).sort();
  if (names.length === 0) return { ok: false, reason: 'a remote config needs at least one file' };
  const hash = createHash('sha256');
  for (const name of names) hash.update(`${name}\0${files[name]!.contentType}\0`).update(files[name]!.body);
  const digest = hash.digest();
  const remoteConfig = create(AgentRemoteConfigSchema, {
    config: create(AgentConfigMapSchema, {
      configMap: Object.fromEntries(
        names.map((n) => [n, { body: files[n]!.body, contentType: files[n]!.contentType }]),
      ),
    }),
    configHash: digest,
  });
  return {
    ok: true,
    remoteConfig,
    hashHex: digest.toString('hex'),
    json: toJson(AgentRemoteConfigSchema, remoteConfig),
  };
}

export interface StoredAssignment {
  remote_config: unknown;
  remote_config_hash: string | null;
  remote_config_status: unknown;
}

/**
 * The stored config to send again when a session starts, or undefined when the agent already runs
 * (or has rejected) it. The agent's last hash comes from the message if it reported one, else from
 * its stored status. A different effective config alone is no reason to resend.
 */
export function configToResend(
  row: StoredAssignment,
  reportedHash: Uint8Array | undefined,
): AgentRemoteConfig | undefined {
  if (!row.remote_config || !row.remote_config_hash) return undefined;
  const stored = row.remote_config_status as { lastRemoteConfigHash?: string } | null;
  const lastHash = reportedHash?.length
    ? Buffer.from(reportedHash).toString('hex')
    : stored?.lastRemoteConfigHash
      ? Buffer.from(stored.lastRemoteConfigHash, 'base64').toString('hex')
      : undefined;
  if (lastHash === row.remote_config_hash) return undefined;
  return fromJson(AgentRemoteConfigSchema, row.remote_config as never);
}
