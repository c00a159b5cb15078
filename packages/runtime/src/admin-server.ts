import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Lifecycle } from './lifecycle.js';

/** The admin HTTP server: `/livez` (always 200), `/readyz` (503 until ready), `/metrics`. */
export interface AdminServer {
  readonly server: Server;
  readonly port: number;
  close(): Promise<void>;
}

/** A metrics registry with Node's default process metrics. */
export function createMetricsRegistry(prefix = 'openiothub_'): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix });
  return registry;
}

/** Start the admin server on `port` (0 = any) bound to `host`. */
export async function startAdminServer(opts: {
  port: number;
  host?: string;
  lifecycle: Lifecycle;
  metrics: Registry;
}): Promise<AdminServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/livez') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    } else if (path === '/readyz') {
      const { ready, failing } = opts.lifecycle.readiness();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ready, failing }));
    } else if (path === '/metrics') {
      opts.metrics.metrics().then(
        (body) => res.writeHead(200, { 'content-type': opts.metrics.contentType }).end(body),
        () => res.writeHead(500).end(),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
