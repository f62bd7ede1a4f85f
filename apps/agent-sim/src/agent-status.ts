/**
 * The simulated agent's reportable state and how it becomes AgentToServer
 * messages: sequence numbers, status compression (only changed sections,
 * unless a full report is due) and capability-gated sections.
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import {
  AgentCapability as A,
  AgentDescriptionSchema,
  AgentToServerFlag,
  AgentToServerSchema,
  ComponentHealthSchema,
  EffectiveConfigSchema,
  create,
  createUuidV7Source,
  has,
  uuidToString,
  type AgentToServer,
  type ComponentHealth,
  type ConnectionSettingsRequest,
  type EffectiveConfig,
  type MessageInitShape,
  type StatusSections,
} from '@ampora/opamp';
import { DEFAULT_CAPABILITIES, type SimAgentOptions } from './agent-options';

// The same sections the server keeps per agent: the simulator reports what the server stores.
export type { StatusSections };
export type SectionName = keyof StatusSections;

/** Which capability a section needs before the agent reports it. */
const SECTION_CAPABILITY: Partial<Record<SectionName, bigint>> = {
  health: A.ReportsHealth,
  effectiveConfig: A.ReportsEffectiveConfig,
  remoteConfigStatus: A.ReportsRemoteConfig,
  packageStatuses: A.ReportsPackageStatuses,
  availableComponents: A.ReportsAvailableComponents,
  connectionSettingsStatus: A.ReportsConnectionSettingsStatus,
};

export interface BuildOptions {
  disconnect?: boolean;
  /** Leave capabilities at 0 ("not reported", A-4), as some pollers do. */
  omitCapabilities?: boolean;
  connectionSettingsRequest?: ConnectionSettingsRequest;
}

/** Mutable status model with dirty tracking. */
export class AgentStatus {
  readonly sections: StatusSections = {};
  private readonly dirty = new Set<SectionName>();
  /** The next message must carry every section (first message, ReportFullState, reconnect). */
  fullStatePending = true;
  /** Asks the server for a uid until one arrives. */
  requestInstanceUid = false;
  private nextSeq = 0n;
  private skip = 0n;

  constructor(
    public instanceUid: Uint8Array,
    public capabilities: bigint,
  ) {}

  set<K extends SectionName>(name: K, value: StatusSections[K]): void {
    this.sections[name] = value;
    this.dirty.add(name);
  }

  /** The sequence number the next message will carry. */
  get upcomingSequenceNum(): bigint {
    return this.nextSeq + this.skip;
  }

  /** Fault injection: the next message jumps `n` numbers ahead. */
  skipSequenceNumbers(n: number): void {
    this.skip += BigInt(n);
  }

  /** Builds the next message and advances the sequence number. */
  next(options: BuildOptions = {}): AgentToServer {
    const msg = create(AgentToServerSchema, {
      instanceUid: this.instanceUid,
      sequenceNum: this.nextSeq + this.skip,
      capabilities: options.omitCapabilities ? 0n : this.capabilities,
    });
    this.nextSeq += this.skip + 1n;
    this.skip = 0n;
    for (const name of Object.keys(this.sections) as SectionName[]) {
      const needed = SECTION_CAPABILITY[name];
      if (needed !== undefined && !has(this.capabilities, needed)) continue;
      if (!this.fullStatePending && !this.dirty.has(name)) continue;
      (msg as unknown as Record<string, unknown>)[name] = this.sections[name];
    }
    this.dirty.clear();
    this.fullStatePending = false;
    if (this.requestInstanceUid) msg.flags |= AgentToServerFlag.RequestInstanceUid;
    if (options.disconnect) msg.agentDisconnect = {} as AgentToServer['agentDisconnect'];
    if (options.connectionSettingsRequest) msg.connectionSettingsRequest = options.connectionSettingsRequest;
    return msg;
  }
}

export type ConfigFiles = Record<string, { body: string | Uint8Array; contentType?: string }>;

/** Builds an EffectiveConfig from named files. */
export function effectiveConfigOf(files: ConfigFiles): EffectiveConfig {
  const configMap: Record<string, { body: Uint8Array; contentType: string }> = {};
  for (const [name, file] of Object.entries(files)) {
    configMap[name] = {
      body: typeof file.body === 'string' ? new TextEncoder().encode(file.body) : file.body,
      contentType: file.contentType ?? '',
    };
  }
  return create(EffectiveConfigSchema, { configMap: { configMap } });
}

export function descriptionOf(identifying: Record<string, string>, nonIdentifying: Record<string, string>) {
  const kv = (attrs: Record<string, string>) =>
    Object.entries(attrs).map(([key, value]) => ({
      key,
      value: { value: { case: 'stringValue' as const, value } },
    }));
  return create(AgentDescriptionSchema, {
    identifyingAttributes: kv(identifying),
    nonIdentifyingAttributes: kv(nonIdentifying),
  });
}

export type HealthInit = MessageInitShape<typeof ComponentHealthSchema>;

/** A Collector-like health tree: one pipeline with a receiver and an exporter. */
export function defaultHealth(startNanos: bigint): ComponentHealth {
  const ok = {
    healthy: true,
    status: 'StatusOK',
    startTimeUnixNano: startNanos,
    statusTimeUnixNano: startNanos,
  };
  return create(ComponentHealthSchema, {
    ...ok,
    componentHealthMap: {
      'pipeline:traces': { ...ok, componentHealthMap: { 'receiver:otlp': ok, 'exporter:otlp': ok } },
    },
  });
}

export const DEFAULT_EFFECTIVE_CONFIG: ConfigFiles = {
  '': {
    contentType: 'text/yaml',
    body: [
      'receivers:',
      '  otlp:',
      '    protocols:',
      '      grpc: {}',
      'exporters:',
      '  debug: {}',
      'service:',
      '  pipelines:',
      '    traces:',
      '      receivers: [otlp]',
      '      exporters: [debug]',
      '',
    ].join('\n'),
  },
};

/** A new agent's uid and what it reports first: its description, health, effective config and custom capabilities. */
export function initialStatus(options: SimAgentOptions): AgentStatus {
  const now = options.now ?? Date.now;
  const uid =
    options.instanceUid ??
    createUuidV7Source({ now, randomBytes: options.randomBytes ?? ((n) => nodeRandomBytes(n)) })();
  const status = new AgentStatus(uid, options.capabilities ?? DEFAULT_CAPABILITIES);
  status.requestInstanceUid = options.requestInstanceUid ?? false;
  const startNanos = BigInt(now()) * 1_000_000n;
  status.set(
    'agentDescription',
    descriptionOf(
      {
        'service.name': 'io.ampora.agent-sim',
        'service.version': '0.1.0',
        'service.instance.id': uuidToString(uid),
        ...options.description?.identifying,
      },
      { 'os.type': 'linux', 'host.name': 'sim-host', ...options.description?.nonIdentifying },
    ),
  );
  status.set(
    'health',
    options.health ? create(ComponentHealthSchema, options.health) : defaultHealth(startNanos),
  );
  status.set('effectiveConfig', effectiveConfigOf(options.effectiveConfig ?? DEFAULT_EFFECTIVE_CONFIG));
  if (options.customCapabilities)
    status.set('customCapabilities', {
      $typeName: 'opamp.proto.v1.CustomCapabilities',
      capabilities: options.customCapabilities,
    });
  return status;
}
