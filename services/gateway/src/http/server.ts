import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ArgumentInvalidError, JSON_CONTENT_TYPE, toDomainError, toHttpError } from '@openiothub/errors';
import type { Logger } from '@openiothub/logging';
import type { HubResolver } from '../auth/hub-resolver.js';
import type { IpFilterGuard } from '../auth/ip-filter-cache.js';
import type { Throttle } from '../throttle/throttle.js';
import { METERED, standardFeatureOf, meteredMessages, operationOf, type Operation } from '../throttle/quotas.js';
import { splitPath, type Router } from './router.js';
import { isDpsPath, type DpsHttp } from '../dps/http.js';
import type { ConnectionGuard } from '../guard/connection-guard.js';
import type { HubMetrics } from '@openiothub/runtime';

/** How much of a refused request body is read and discarded before the connection is cut. */
const MAX_DRAIN_BYTES = 1024 * 1024;

/** IoT Hub api-version values look like 2021-04-12 or 2020-09-30-preview. */
const API_VERSION = /^\d{4}-\d{2}-\d{2}(-preview)?$/;

/** Write a DomainError (or anything thrown) as an IoT Hub HTTP error — the gateway's one HTTP error mapping. */
export function writeError(res: ServerResponse, err: unknown, log: Logger): void {
  const domain = toDomainError(err);
  if (domain.code === 'ServerError' || domain.code === 'ServiceUnavailable') log.error({ err: domain.cause ?? domain }, 'request failed');
  const out = toHttpError(domain);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(out.status, { ...out.headers, 'content-length': Buffer.byteLength(out.body) }).end(out.body);
}

/** Dispatch one request: resolve the hub, check api-version, route, write the reply or the error. */
export function createRequestHandler(opts: { router: Router; hubs: HubResolver; log: Logger; dps?: DpsHttp | undefined; ipFilter: IpFilterGuard; throttle: Throttle; hubMetrics?: HubMetrics }) {
  // what an operation that ran counts against the daily quota; never fails the answer
  const meterAfter = (hub: string, op: Operation, sizes: () => number[]) => {
    const kind = METERED[op];
    if (kind) opts.throttle.record(hub, sizes, kind);
  };
  // Azure Monitor's operation metrics (protocols-ops §7.1), for authenticated requests
  const countOperation = (hub: string, op: Operation, path: readonly string[], ok: boolean) => {
    const name = azureMetricOf(op, path);
    if (name && opts.hubMetrics) opts.hubMetrics.count(`${name}.${ok ? 'success' : 'failure'}`, hub);
  };
  return (req: IncomingMessage, res: ServerResponse): void => {
    const run = async () => {
      const url = new URL(req.url ?? '/', 'https://gateway.invalid');
      // Device Provisioning Service requests share the port; they name an ID scope or a DPS collection, not a hub
      const path = splitPath(url.pathname);
      if (opts.dps && isDpsPath(path)) return opts.dps.handle(req, res, path, url.searchParams);
      const hub = opts.hubs.resolve(req.headers.host);
      // the filter's own settings are the control plane (ARM in Azure): reachable even by a client the filter locks out
      if (!(path.length === 2 && path[0] === 'settings' && path[1] === 'ipFilter')) await opts.ipFilter.check(hub, req.socket.remoteAddress);
      const apiVersion = url.searchParams.get('api-version');
      if (!apiVersion || !API_VERSION.test(apiVersion)) {
        throw new ArgumentInvalidError('The api-version query parameter is required, e.g. api-version=2021-04-12.');
      }
      const { handler, params } = opts.router.match(req.method ?? 'GET', path);
      // the hub's operation throttles, charged once the handler authenticated the caller (ctx.charge);
      // telemetry is throttled and metered per message where it is ingested
      const op = operationOf(req.method ?? 'GET', path);
      const requestBytes = Number(req.headers['content-length'] ?? 0) || 0;
      let charged = false;
      const charge = async () => {
        if (charged) return;
        charged = true;
        const standardFeature = standardFeatureOf(op, path);
        if (standardFeature) await opts.throttle.requireStandardTier(hub, standardFeature);
        if (!op) return;
        await opts.throttle.take(hub, op, op === 'methods' ? meteredMessages(requestBytes, 4096) : 1);
        if (METERED[op]) await opts.throttle.ensureQuota(hub);
      };
      let reply;
      try {
        reply = await handler({ req, res, hub, params, query: url.searchParams, segments: path, charge });
      } catch (err) {
        // a method call to a device that is not connected still counts its request (devguide §18)
        if (charged && op === 'methods' && toDomainError(err).code === 'DeviceNotOnline') meterAfter(hub, op, () => [requestBytes]);
        if (charged && op) countOperation(hub, op, path, false);
        throw err;
      }
      if (charged && op) countOperation(hub, op, path, reply.status < 300);
      const headers: Record<string, string | number> = { ...reply.headers };
      let replyBytes = 0;
      if (reply.raw) {
        replyBytes = reply.raw.length;
        res.writeHead(reply.status, { ...headers, 'content-length': reply.raw.length }).end(reply.raw);
      } else if (reply.body === undefined) {
        res.writeHead(reply.status, headers).end();
      } else {
        const body = JSON.stringify(reply.body);
        replyBytes = Buffer.byteLength(body);
        res.writeHead(reply.status, { ...headers, 'content-type': JSON_CONTENT_TYPE, 'content-length': replyBytes }).end(body);
      }
      if (charged && op && reply.status < 300) meterAfter(hub, op, () => meteredSizes(op, requestBytes, replyBytes, reply.body));
    };
    run().catch((err: unknown) => {
      if (!req.complete) {
        // A client still sending a body we refused must be able to read the answer: discard the
        // rest (never buffer it) so the connection stays in sync, and cut it past a bound.
        let drained = 0;
        req.on('data', (chunk: Buffer) => {
          drained += chunk.length;
          if (drained > MAX_DRAIN_BYTES) req.socket?.destroy();
        });
        req.resume();
      }
      writeError(res, err, opts.log);
    });
  };
}

/** The Azure metric (without `.success`/`.failure`) of a service REST operation, if it has one. */
function azureMetricOf(op: Operation, path: readonly string[]): 'c2d.methods' | 'twinQueries' | 'c2d.twin.read' | 'c2d.twin.update' | undefined {
  if (op === 'methods') return 'c2d.methods';
  if (path[0] === 'devices' && path[1] === 'query') return 'twinQueries';
  if (path[0] === 'twins') return op === 'twinRead' ? 'c2d.twin.read' : op === 'twinUpdate' ? 'c2d.twin.update' : undefined;
  return undefined;
}

/**
 * The sizes an operation is metered by (devguide §18): a method's request and its response
 * payload (each in 4 KB chunks), a twin read's or query's result, otherwise the request body.
 */
function meteredSizes(op: Operation, requestBytes: number, replyBytes: number, replyBody: unknown): number[] {
  if (op === 'methods') {
    const payload = (replyBody as { payload?: unknown } | undefined)?.payload;
    return [requestBytes, payload === undefined ? 0 : Buffer.byteLength(JSON.stringify(payload))];
  }
  if (op === 'twinRead') return [replyBytes];
  return [requestBytes];
}

/**
 * Stop accepting, close idle keep-alive connections at once, give requests in flight `graceMs`
 * to finish, then cut whatever is left — so shutdown never waits on a client that keeps a
 * connection open.
 */
export async function closeGracefully(server: Server, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
  await Promise.race([closed, grace]);
  clearTimeout(timer);
  server.closeAllConnections();
  await closed;
}

/** Start the HTTPS listener; a clear message when the port needs privileges. */
export async function listenHttps(opts: {
  host: string;
  port: number;
  cert: string;
  key: string;
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  guard?: ConnectionGuard | undefined;
}): Promise<{ server: Server; port: number }> {
  // X.509 devices (HTTP transport, MQTT/AMQP over WebSockets, DPS) present a client certificate; it is asked for, never required
  const server = createServer({ cert: opts.cert, key: opts.key, keepAliveTimeout: 65_000, requestCert: true, rejectUnauthorized: false }, opts.handler);
  opts.guard?.watch(server);
  server.headersTimeout = 30_000;
  server.requestTimeout = 120_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EACCES') {
        reject(
          new Error(
            `Cannot bind port ${opts.port}: it needs privileges. The Azure SDKs always dial 443 for HTTPS and WebSockets. ` +
              `Fix: run as root, or grant node the capability (sudo setcap cap_net_bind_service=+ep $(which node)), ` +
              `or set HTTPS_PORT to another port (then only MQTT/AMQP clients and raw HTTP tools can reach it).`,
          ),
        );
      } else if (err.code === 'EADDRINUSE') {
        reject(new Error(`Port ${opts.port} is already in use (is another hub running?). Stop it or set HTTPS_PORT.`));
      } else reject(err);
    });
    server.listen(opts.port, opts.host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
