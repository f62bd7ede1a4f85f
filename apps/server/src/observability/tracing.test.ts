import { createServer } from 'node:http';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { startTracing, tracer } from './tracing.js';

describe('tracing', () => {
  it('does nothing without an OTLP endpoint', async () => {
    const t = startTracing(pino({ level: 'silent' }), {});
    await t.shutdown();
    expect(tracer().startSpan('x').isRecording()).toBe(false);
  });

  it('exports spans over OTLP/HTTP to the configured endpoint', async () => {
    const received: Array<{ url: string; type: string; bytes: number }> = [];
    const collector = createServer((req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => {
        received.push({ url: req.url ?? '', type: String(req.headers['content-type']), bytes: n });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', () => r()));
    const port = (collector.address() as { port: number }).port;
    const t = startTracing(pino({ level: 'silent' }), {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
    });
    try {
      const span = tracer().startSpan('agent-state.flush');
      expect(span.isRecording()).toBe(true);
      span.end();
    } finally {
      await t.shutdown();
      collector.close();
    }
    const traces = received.filter((r) => r.url === '/v1/traces');
    expect(traces.length).toBeGreaterThan(0);
    expect(traces[0]!.bytes).toBeGreaterThan(0);
  });
});
