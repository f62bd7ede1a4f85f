import { trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { NodeSDK } from '@opentelemetry/sdk-node';
import type { Logger } from './logger.js';

/**
 * Starts OpenTelemetry tracing when an OTLP endpoint is configured through the standard
 * `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` variables (the SDK also reads
 * `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, headers and protocol from the environment).
 * Without one, nothing is started and spans are no-ops.
 */
export function startTracing(
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): { shutdown(): Promise<void> } {
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.replace(/\/$/, '');
  const url = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (base ? `${base}/v1/traces` : undefined);
  if (!url) return { shutdown: async () => {} };
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME ?? 'ampora',
    traceExporter: new OTLPTraceExporter({ url }),
    // Our own spans only: automatic instrumentation of every library would trace each agent heartbeat.
    instrumentations: [],
  });
  sdk.start();
  logger.info({ endpoint: url }, 'OpenTelemetry tracing started');
  return {
    shutdown: () =>
      sdk.shutdown().catch((err) => logger.warn({ err: (err as Error).message }, 'tracing shutdown failed')),
  };
}

export function tracer(): Tracer {
  return trace.getTracer('ampora');
}
