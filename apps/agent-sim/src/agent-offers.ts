/**
 * How the simulated agent acts on what the server sends: a new instance_uid,
 * report flags, and offers of remote config (apply or fail, reporting
 * APPLYING → APPLIED/FAILED), connection settings (heartbeat interval,
 * certificate, status report) and packages.
 */
import {
  AgentCapability as A,
  ConnectionSettingsStatusSchema,
  ConnectionSettingsStatuses,
  EffectiveConfigSchema,
  PackageStatusEnum,
  PackageStatusesSchema,
  RemoteConfigStatusSchema,
  RemoteConfigStatuses,
  ServerToAgentFlag,
  create,
  has,
  type AgentRemoteConfig,
  type ConnectionSettingsOffers,
  type PackagesAvailable,
  type ServerToAgent,
} from '@ampora/opamp';
import type { SimAgent } from './agent';

export type ApplyMode = 'apply' | 'fail';

const sameBytes = (a: Uint8Array | undefined, b: Uint8Array) =>
  a !== undefined && a.length === b.length && a.every((v, i) => v === b[i]);

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Applies (or fails) a remote config; a config whose hash was already handled is ignored. */
export async function applyRemoteConfig(agent: SimAgent, rc: AgentRemoteConfig): Promise<void> {
  const hash = rc.configHash;
  if (sameBytes(agent.lastRemoteConfigHash, hash)) return;
  agent.lastRemoteConfigHash = hash;
  const reports = has(agent.status.capabilities, A.ReportsRemoteConfig);
  if (reports) {
    agent.status.set(
      'remoteConfigStatus',
      create(RemoteConfigStatusSchema, {
        lastRemoteConfigHash: hash,
        status: RemoteConfigStatuses.RemoteConfigStatuses_APPLYING,
      }),
    );
    await agent.exchangeMessage();
  }
  await delay(agent.options.applyDelayMs ?? 0);
  const status =
    agent.applyMode === 'apply'
      ? create(RemoteConfigStatusSchema, {
          lastRemoteConfigHash: hash,
          status: RemoteConfigStatuses.RemoteConfigStatuses_APPLIED,
        })
      : create(RemoteConfigStatusSchema, {
          lastRemoteConfigHash: hash,
          status: RemoteConfigStatuses.RemoteConfigStatuses_FAILED,
          errorMessage: agent.options.failMessage ?? 'simulated apply failure',
        });
  if (agent.applyMode === 'apply') {
    agent.status.set('effectiveConfig', create(EffectiveConfigSchema, { configMap: rc.config }));
  }
  if (reports) agent.status.set('remoteConfigStatus', status);
  await agent.exchangeMessage();
  agent.emit('remoteConfig', { hash, status });
}

/**
 * Takes a connection-settings offer. Like opamp-go clients, an offer whose
 * hash was already processed is skipped. The heartbeat interval is taken
 * from `opamp` when the agent reports heartbeats.
 */
export async function applyConnectionSettings(
  agent: SimAgent,
  offers: ConnectionSettingsOffers,
): Promise<void> {
  if (offers.hash.length > 0 && sameBytes(agent.lastConnectionSettingsHash, offers.hash)) return;
  agent.lastConnectionSettingsHash = offers.hash;
  const caps = agent.status.capabilities;
  if (offers.opamp && has(caps, A.AcceptsOpAMPConnectionSettings) && has(caps, A.ReportsHeartbeat)) {
    agent.heartbeatIntervalSeconds = Number(offers.opamp.heartbeatIntervalSeconds);
    agent.scheduleHeartbeat();
  }
  let status = ConnectionSettingsStatuses.ConnectionSettingsStatuses_APPLIED;
  let errorMessage = '';
  try {
    await agent.adoptCertificate(offers);
    await agent.options.onConnectionSettings?.(offers, agent);
  } catch (err) {
    status = ConnectionSettingsStatuses.ConnectionSettingsStatuses_FAILED;
    errorMessage = err instanceof Error ? err.message : String(err);
  }
  agent.emit('connectionSettings', offers);
  if (has(caps, A.ReportsConnectionSettingsStatus)) {
    agent.status.set(
      'connectionSettingsStatus',
      create(ConnectionSettingsStatusSchema, {
        lastConnectionSettingsHash: offers.hash,
        status,
        errorMessage,
      }),
    );
    await agent.exchangeMessage();
  }
}

/** Marks every offered package installed; returns whether there is a status to report. */
export function applyPackages(agent: SimAgent, available: PackagesAvailable): boolean {
  if (!has(agent.status.capabilities, A.ReportsPackageStatuses)) return false;
  const packages = Object.fromEntries(
    Object.entries(available.packages).map(([name, pkg]) => [
      name,
      {
        name,
        agentHasVersion: pkg.version,
        agentHasHash: pkg.hash,
        serverOfferedVersion: pkg.version,
        serverOfferedHash: pkg.hash,
        status: PackageStatusEnum.PackageStatusEnum_Installed,
      },
    ]),
  );
  agent.status.set(
    'packageStatuses',
    create(PackageStatusesSchema, { packages, serverProvidedAllPackagesHash: available.allPackagesHash }),
  );
  return true;
}

/**
 * Acts on what a message from the server carries besides an error or a command: a new
 * instance_uid, report flags and offers. Offers are taken in the background, so that a slow
 * apply never holds up the message that brought it.
 */
export function actOn(agent: SimAgent, msg: ServerToAgent): void {
  const newUid = msg.agentIdentification?.newInstanceUid;
  if (newUid?.length === 16) {
    const previous = agent.status.instanceUid;
    agent.status.instanceUid = newUid;
    agent.status.requestInstanceUid = false;
    agent.emit('instanceUidChanged', { previous, current: newUid });
  }
  let followUp = false;
  if (msg.flags & ServerToAgentFlag.ReportFullState) {
    agent.status.fullStatePending = true;
    followUp = true;
  }
  if (msg.flags & ServerToAgentFlag.ReportAvailableComponents) followUp = true;
  const caps = agent.status.capabilities;
  const background = (p: Promise<unknown>) => p.catch((e: Error) => agent.emit('transportError', e));
  if (msg.remoteConfig && has(caps, A.AcceptsRemoteConfig))
    background(applyRemoteConfig(agent, msg.remoteConfig));
  if (msg.connectionSettings) background(applyConnectionSettings(agent, msg.connectionSettings));
  if (msg.packagesAvailable && has(caps, A.AcceptsPackages))
    followUp = applyPackages(agent, msg.packagesAvailable) || followUp;
  if (msg.customMessage) agent.emit('customMessage', msg.customMessage);
  if (followUp) background(agent.exchangeMessage());
}
