import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';

export { context, SpanKind, SpanStatusCode, trace };
export type { Context, Span };

/**
 * OpenTelemetry tracing. Off unless an OTLP endpoint is configured: then every service exports its
 * spans over OTLP/HTTP, and the W3C trace context (`traceparent`, `tracestate`) travels in NATS
 * message headers and gRPC metadata, so one telemetry message is one trace from the gateway over
 * the bus to routing and its endpoints. Off, instrumented code checks {@link tracingEnabled} and
 * does nothing else: the hot path pays one boolean test.
 */

let enabled = false;
let provider: { shutdown(): Promise<void> } | undefined;

/** True once {@link startTracing} registered an exporter in this process. */
export function tracingEnabled(): boolean {
  return enabled;
}

/** The tracer of a component (`gateway`, `routing`, `bus`, `grpc` …). */
export function tracer(component: string): Tracer {
  return trace.getTracer(`openiothub.${component}`);
}

/**
 * Export this process's spans to `endpoint` (an OTLP/HTTP collector base URL: spans go to
 * `{endpoint}/v1/traces`), as `service.name` openiothub-{service}, sampling `ratio` of new traces
 * (a sampled parent is always followed). Empty endpoint: nothing. Returns the shutdown (flushes).
 */
export async function startTracing(opts: { service: string; endpoint: string; ratio?: number }): Promise<() => Promise<void>> {
  if (!opts.endpoint || provider) return async () => undefined;
  const [{ NodeTracerProvider }, { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler }, { OTLPTraceExporter }, { resourceFromAttributes }, { W3CTraceContextPropagator }] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/core'),
  ]);
  const p = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': opts.service.startsWith('openiothub-') ? opts.service : `openiothub-${opts.service}`, 'service.namespace': 'openiothub' }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(opts.ratio ?? 1) }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${opts.endpoint.replace(/\/$/, '')}/v1/traces` }), { scheduledDelayMillis: 1000 })],
  });
  p.register({ propagator: new W3CTraceContextPropagator() });
  provider = p;
  enabled = true;
  return async () => {
    enabled = false;
    provider = undefined;
    await p.shutdown();
  };
}

/** Write the context's trace headers with `set` (NATS headers, gRPC metadata …). */
export function injectTrace(set: (key: string, value: string) => void, ctx: Context = context.active()): void {
  propagation.inject(ctx, undefined, { set: (_carrier, key, value) => set(key, value) });
}

/** The context whose parent is the trace named by headers read with `get` (none: the root context). */
export function extractTrace(get: (key: string) => string | undefined): Context {
  return propagation.extract(ROOT_CONTEXT, undefined, {
    get: (_carrier, key) => get(key) || undefined,
    keys: () => ['traceparent', 'tracestate'],
  });
}

/** End a span when `work` settles, recording an error; resolves what `work` resolves. */
export async function endWith<T>(span: Span, work: Promise<T>): Promise<T> {
  try {
    const v = await work;
    span.end();
    return v;
  } catch (err) {
    span.recordException(err as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
    span.end();
    throw err;
  }
}
