import * as grpc from '@grpc/grpc-js';
import { DomainError, domainErrorFromCode, toDomainError } from '@openiothub/errors';
import { context, extractTrace, injectTrace, SpanKind, SpanStatusCode, trace, tracer, tracingEnabled } from '@openiothub/tracing';

/** Trailer metadata key that carries the IoT Hub error code name across service boundaries. */
export const ERROR_CODE_METADATA = 'iothub-error-code';

/** The one mapping DomainError → gRPC status (server side). */
export function toGrpcError(err: unknown): grpc.ServiceError {
  const domain = toDomainError(err);
  const metadata = new grpc.Metadata();
  metadata.set(ERROR_CODE_METADATA, domain.code);
  return Object.assign(new Error(domain.message, { cause: domain.cause ?? domain }), {
    code: domain.spec.grpc as grpc.status,
    details: domain.message,
    metadata,
  });
}

/** The one mapping gRPC error → DomainError (client side); transport failures become ServiceUnavailable. */
export function fromGrpcError(err: unknown): DomainError {
  const e = err as Partial<grpc.ServiceError>;
  const code = e.metadata?.get(ERROR_CODE_METADATA)[0];
  if (typeof code === 'string') return domainErrorFromCode(code, e.details ?? e.message ?? '');
  if (e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.DEADLINE_EXCEEDED) {
    return new DomainError('ServiceUnavailable', 'A back-end service is unavailable; try again.', { cause: err });
  }
  return new DomainError('ServerError', 'An internal error occurred.', { cause: err });
}

/** Wrap an async handler as a grpc-js unary handler; every thrown error goes through {@link toGrpcError}. */
export function unaryHandler<Req, Res>(
  fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    fn(call.request, call).then(
      (res) => callback(null, res),
      (err: unknown) => callback(toGrpcError(err)),
    );
  };
}

/**
 * The items of a batch call, each answered alone (in order): one item's failure becomes its own
 * result — `failed` of its IoT Hub error — never the batch's. Internal errors are logged as a
 * unary call's would be.
 */
export function answerEach<Item, Result>(
  items: readonly Item[],
  run: (item: Item) => Promise<Result>,
  failed: (error: { code: string; message: string }) => Result,
  log?: { error(obj: object, msg: string): void },
): Promise<Result[]> {
  return Promise.all(
    items.map(async (item) => {
      try {
        return await run(item);
      } catch (err) {
        const e = toDomainError(err);
        if (e.code === 'ServerError') log?.error({ err }, 'gRPC batch item failed');
        return failed({ code: e.code, message: e.message });
      }
    }),
  );
}

type UnaryMethod<Req, Res> = (
  req: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (err: grpc.ServiceError | null, res: Res) => void,
) => grpc.ClientUnaryCall;

/**
 * Call a generated unary client method as a promise; errors arrive as DomainErrors. With tracing
 * on, the call is a client span and its trace context travels in the request metadata.
 */
export function callUnary<Req, Res>(method: UnaryMethod<Req, Res>, req: Req, deadlineMs = 10_000, name = 'call'): Promise<Res> {
  const metadata = new grpc.Metadata();
  const span = tracingEnabled() ? tracer('grpc').startSpan(`grpc.client/${name}`, { kind: SpanKind.CLIENT, attributes: { 'rpc.system': 'grpc', 'rpc.method': name } }) : undefined;
  if (span) injectTrace((k, v) => metadata.set(k, v), trace.setSpan(context.active(), span));
  return new Promise((resolve, reject) => {
    method(req, metadata, { deadline: Date.now() + deadlineMs }, (err, res) => {
      if (span) {
        if (err) span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
        span.end();
      }
      if (err) reject(fromGrpcError(err));
      else resolve(res);
    });
  });
}

/** Any generated client with the Promise-returning methods of its service. */
export type PromiseClient<C> = {
  [K in keyof C as C[K] extends UnaryMethod<infer _Req, infer _Res> ? K : never]: C[K] extends UnaryMethod<infer Req, infer Res>
    ? (req: Req) => Promise<Res>
    : never;
};

/**
 * Wrap a generated grpc-js client so each unary method returns a promise and rejects with a
 * DomainError. Only methods named in `definition` are wrapped.
 */
export function promiseClient<C extends grpc.Client>(client: C, definition: grpc.ServiceDefinition): PromiseClient<C> {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(definition)) {
    const method = (client as unknown as Record<string, UnaryMethod<unknown, unknown>>)[name];
    if (typeof method === 'function') out[name] = (req: unknown) => callUnary(method.bind(client), req, undefined, name);
  }
  return out as PromiseClient<C>;
}

/**
 * Registry reads that every device connect and service request depends on. They change nothing,
 * so a call that failed UNAVAILABLE — a registry process killed or restarting while the call was
 * on its connection — is made again (twice at most, 50 ms then 100 ms later), which reaches
 * another process or the restarted one, instead of refusing the device's CONNACK. Writes are
 * never retried here: one that failed may have been done.
 */
const RETRIED_READS = {
  'openiothub.registry.v1.RegistryService': ['GetHub', 'ListPolicies', 'GetPolicy', 'GetDevice', 'GetIdentities', 'ListDevices', 'GetModule', 'ListModules', 'LookupCredentials', 'GetCertificate', 'ListCertificates', 'VerifiedCertificates', 'GetIpFilter'],
};

export const SERVICE_CONFIG = {
  loadBalancingConfig: [{ round_robin: {} }],
  methodConfig: [
    {
      name: Object.entries(RETRIED_READS).flatMap(([service, methods]) => methods.map((method) => ({ service, method }))),
      retryPolicy: { maxAttempts: 3, initialBackoff: '0.05s', maxBackoff: '0.5s', backoffMultiplier: 2, retryableStatusCodes: ['UNAVAILABLE'] },
    },
  ],
};

/**
 * Calls are spread over every address the target resolves to (round robin), not pinned to the
 * first: `dns:///registry:50051` over a headless Service's pods, or
 * `ipv4:127.0.0.1:50051,127.0.0.1:50061` over processes on one host. A process that goes away
 * leaves the rotation; calls go to the others until it is back.
 */
const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.service_config': JSON.stringify(SERVICE_CONFIG),
  // re-resolve DNS promptly when pods come and go (default 30 s)
  'grpc.dns_min_time_between_resolutions_ms': 5000,
};

/**
 * Open an insecure (in-cluster) channel to `url` with a generated client class and wrap it with
 * {@link promiseClient}; `close()` releases the channel.
 */
export function connectClient<C extends grpc.Client>(
  Client: new (url: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => C,
  definition: grpc.ServiceDefinition,
  url: string,
): PromiseClient<C> & { close(): void } {
  const raw = new Client(url, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  return Object.assign(promiseClient(raw, definition), { close: () => raw.close() });
}

export { grpc };

/**
 * Serve gRPC services on host:port (0 = any free port); the server shuts down gracefully on stop.
 * Resolves the bound port.
 */
/** Wrap unary handlers so an answer with status INTERNAL (a bug, not a domain error) is logged with its cause. */
function logInternalErrors(impl: grpc.UntypedServiceImplementation, log: { error(obj: object, msg: string): void }): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = {};
  for (const [name, handler] of Object.entries(impl)) {
    const unary = handler as grpc.handleUnaryCall<unknown, unknown>;
    out[name] = ((call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) =>
      unary(call, (err, value) => {
        if (err && err.code === grpc.status.INTERNAL) log.error({ err: (err as Error).cause ?? err, method: name }, 'gRPC request failed');
        callback(err, value);
      })) as grpc.UntypedHandleCall;
  }
  return out;
}

/**
 * With tracing on, each unary call is a server span, child of the caller's (trace context from the
 * request metadata); what the handler calls in turn joins the same trace.
 */
function traced(impl: grpc.UntypedServiceImplementation): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = {};
  for (const [name, handler] of Object.entries(impl)) {
    const unary = handler as grpc.handleUnaryCall<unknown, unknown>;
    out[name] = ((call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      if (!tracingEnabled()) return unary(call, callback);
      const parent = extractTrace((k) => {
        const v = call.metadata.get(k)[0];
        return typeof v === 'string' ? v : undefined;
      });
      const span = tracer('grpc').startSpan(`grpc.server/${name}`, { kind: SpanKind.SERVER, attributes: { 'rpc.system': 'grpc', 'rpc.method': name } }, parent);
      context.with(trace.setSpan(parent, span), () =>
        unary(call, (err, value) => {
          if (err) span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
          span.end();
          callback(err, value);
        }),
      );
    }) as grpc.UntypedHandleCall;
  }
  return out;
}

export async function serveGrpc(opts: {
  host: string;
  port: number;
  services: ReadonlyArray<readonly [grpc.ServiceDefinition, grpc.UntypedServiceImplementation]>;
  lifecycle: { onStop(name: string, fn: () => Promise<void> | void): void };
  /** Where unexpected failures (answered INTERNAL) are logged with their cause. */
  log?: { error(obj: object, msg: string): void };
}): Promise<number> {
  const server = new grpc.Server();
  for (const [definition, impl] of opts.services) server.addService(definition, traced(opts.log ? logInternalErrors(impl, opts.log) : impl));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${opts.host}:${opts.port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  opts.lifecycle.onStop('grpc-server', () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())));
  return port;
}

/**
 * A server on a free local port that implements only `impl`; every other call answers
 * UNIMPLEMENTED, as an older release's would (for tests of clients during rolling upgrades).
 */
export async function servePartial<S>(definition: grpc.ServiceDefinition, impl: Partial<S>): Promise<{ url: string; stop(): void }> {
  const server = new grpc.Server();
  server.addService(definition, impl as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((ok, fail) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? fail(err) : ok(p))));
  return { url: `127.0.0.1:${port}`, stop: () => server.forceShutdown() };
}
