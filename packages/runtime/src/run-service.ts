import { ConfigError } from '@openiothub/config';
import { createLogger, type Logger } from '@openiothub/logging';
import type { Registry } from 'prom-client';
import { createMetricsRegistry, startAdminServer } from './admin-server.js';
import { Lifecycle } from './lifecycle.js';
import { startTracing } from '@openiothub/tracing';

/** What every service's composition root receives. */
export interface ServiceContext {
  readonly log: Logger;
  readonly metrics: Registry;
  readonly lifecycle: Lifecycle;
}

/** The settings runService itself needs from a service's config. */
export interface RuntimeConfig {
  readonly LOG_LEVEL: string;
  readonly ADMIN_PORT: number;
  readonly SHUTDOWN_TIMEOUT_MS: number;
  readonly SHUTDOWN_DELAY_MS: number;
  readonly OTEL_EXPORTER_OTLP_ENDPOINT?: string;
  readonly OTEL_TRACES_SAMPLER_ARG?: number;
}

/** Options for {@link runService}. */
export interface RunServiceOptions<C extends RuntimeConfig> {
  readonly name: string;
  readonly loadConfig: (env: Record<string, string | undefined>) => C;
  /** Build clients, stores, domain and transports; bind listeners; register stop hooks. */
  readonly createApp: (config: C, ctx: ServiceContext) => Promise<void>;
}

/**
 * The process entry for every service: parse config (print every bad key, exit non-zero), start
 * the admin server, build the app, mark ready; on SIGTERM/SIGINT readyz → 503, wait
 * SHUTDOWN_DELAY_MS, run stop hooks, exit 0 — or exit 1 past SHUTDOWN_TIMEOUT_MS. The only place
 * that touches signals and process.exit.
 */
export async function runService<C extends RuntimeConfig>(opts: RunServiceOptions<C>): Promise<void> {
  let config: C;
  try {
    config = opts.loadConfig(process.env);
  } catch (err) {
    process.stderr.write(`${opts.name}: ${err instanceof ConfigError ? err.message : String(err)}\n`);
    process.exit(2);
  }
  const log = createLogger({ name: opts.name, level: config.LOG_LEVEL });
  const lifecycle = new Lifecycle(log);
  const stopTracing = await startTracing({ service: opts.name, endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT ?? '', ratio: config.OTEL_TRACES_SAMPLER_ARG ?? 1 });
  lifecycle.onStop('tracing', stopTracing);
  const metrics = createMetricsRegistry();
  const admin = await startAdminServer({ port: config.ADMIN_PORT, lifecycle, metrics });
  lifecycle.onStop('admin-server', () => admin.close());

  let shuttingDown = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ signal }, 'shutting down');
    const stopped = lifecycle.stop(config.SHUTDOWN_TIMEOUT_MS + config.SHUTDOWN_DELAY_MS);
    process.exitCode = (await stopped) ? 0 : 1;
    log.info({ exitCode: process.exitCode }, 'stopped');
    process.exit();
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  try {
    await opts.createApp(config, { log, metrics, lifecycle });
  } catch (err) {
    log.fatal({ err }, 'start failed');
    await lifecycle.stop(config.SHUTDOWN_TIMEOUT_MS);
    process.exit(1);
  }
  if (config.SHUTDOWN_DELAY_MS > 0) {
    // Newest hook runs first: readyz is already 503, give load balancers time to notice.
    lifecycle.onStop('readiness-delay', () => new Promise((r) => setTimeout(r, config.SHUTDOWN_DELAY_MS)));
  }
  lifecycle.markReady();
  log.info({ adminPort: admin.port }, 'ready');
}
