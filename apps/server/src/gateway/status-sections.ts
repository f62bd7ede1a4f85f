import { createHash } from 'node:crypto';
import {
  AgentDescriptionSchema,
  AvailableComponentsSchema,
  ComponentHealthSchema,
  ConnectionSettingsStatusSchema,
  CustomCapabilitiesSchema,
  EffectiveConfigSchema,
  PackageStatusesSchema,
  RemoteConfigStatusSchema,
  configMapHash,
  toBinary,
  type AgentDescription,
  type AnyValue,
  type StatusSections,
} from '@ampora/opamp';
import { toJson, type DescMessage } from '@bufbuild/protobuf';
import type { AgentStatePatch } from '../modules/agents/agent-state.js';

type SectionName = keyof StatusSections;

const SCHEMAS: Record<SectionName, DescMessage> = {
  agentDescription: AgentDescriptionSchema,
  health: ComponentHealthSchema,
  effectiveConfig: EffectiveConfigSchema,
  remoteConfigStatus: RemoteConfigStatusSchema,
  packageStatuses: PackageStatusesSchema,
  customCapabilities: CustomCapabilitiesSchema,
  availableComponents: AvailableComponentsSchema,
  connectionSettingsStatus: ConnectionSettingsStatusSchema,
};

function anyValueToString(v: AnyValue | undefined): string | undefined {
  switch (v?.value.case) {
    case 'stringValue':
      return v.value.value;
    case 'boolValue':
    case 'intValue':
    case 'doubleValue':
      return String(v.value.value);
    default:
      return undefined;
  }
}

function flattenAttributes(d: AgentDescription): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of [...d.nonIdentifyingAttributes, ...d.identifyingAttributes]) {
    const s = anyValueToString(kv.value);
    if (s !== undefined) out[kv.key] = s;
  }
  return out;
}

/**
 * Remembers the last bytes of each section per agent, so that an agent that re-sends an unchanged
 * section (many do not compress status) does not cause a row update.
 */
export class SectionDeduper {
  private readonly last = new Map<SectionName, string>();

  /** The sections that differ from the last ones seen. */
  changed(sections: StatusSections): StatusSections {
    const out: StatusSections = {};
    for (const [name, value] of Object.entries(sections) as Array<
      [SectionName, StatusSections[SectionName]]
    >) {
      if (!value) continue;
      const digest = createHash('sha1')
        .update(toBinary(SCHEMAS[name], value as never))
        .digest('base64');
      if (this.last.get(name) === digest) continue;
      this.last.set(name, digest);
      (out as Record<string, unknown>)[name] = value;
    }
    return out;
  }
}

/** Converts reported sections to the storable patch the agent state buffer takes. */
export function sectionsToPatch(base: AgentStatePatch, sections: StatusSections): AgentStatePatch {
  const patch: AgentStatePatch = { ...base };
  const json = (name: SectionName) => toJson(SCHEMAS[name], sections[name] as never);
  if (sections.agentDescription) {
    const attributes = flattenAttributes(sections.agentDescription);
    patch.description = {
      json: json('agentDescription'),
      attributes,
      agentType: attributes['service.name'] ?? null,
      agentVersion: attributes['service.version'] ?? null,
      hostName: attributes['host.name'] ?? null,
    };
  }
  if (sections.health) patch.health = { json: json('health'), healthy: sections.health.healthy };
  if (sections.effectiveConfig) {
    patch.effectiveConfig = {
      json: json('effectiveConfig'),
      hash: configMapHash(sections.effectiveConfig.configMap),
    };
  }
  if (sections.remoteConfigStatus) patch.remoteConfigStatus = json('remoteConfigStatus');
  if (sections.packageStatuses) patch.packageStatuses = json('packageStatuses');
  if (sections.availableComponents) patch.availableComponents = json('availableComponents');
  if (sections.customCapabilities) patch.customCapabilities = json('customCapabilities');
  if (sections.connectionSettingsStatus) patch.connectionSettingsStatus = json('connectionSettingsStatus');
  return patch;
}
