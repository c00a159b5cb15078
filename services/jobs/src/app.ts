import { fileURLToPath } from 'node:url';
import { openBus } from '@openiothub/bus';
import { openDatabase } from '@openiothub/postgres';
import { connectClient, jobsV1, registryV1, serveGrpc, twinV1 } from '@openiothub/proto';
import { HubMetrics, type ServiceContext } from '@openiothub/runtime';
import type { JobsConfig } from './config.js';
import { JobsService } from './domain/jobs-service.js';
import { BulkRunner } from './engine/bulk-runner.js';
import { JobRunner } from './engine/runner.js';
import { BulkJobStore } from './store/bulk-store.js';
import { jobsHandlers } from './rpc/handlers.js';
import { JobStore } from './store/job-store.js';

const MIGRATIONS = fileURLToPath(new URL('../migrations', import.meta.url));

/** What a running jobs service exposes to an in-process host. */
export interface JobsApp {
  readonly service: JobsService;
  readonly runner: JobRunner;
  readonly grpcPort: number;
}

/** Composition root: Postgres → store → service + runner → gRPC; twin gRPC for queries and updates; NATS for methods. */
export async function createJobsApp(config: JobsConfig, ctx: ServiceContext): Promise<JobsApp> {
  const { log, lifecycle } = ctx;
  const { pool, applied } = await openDatabase({ url: config.DATABASE_URL, name: 'openiothub-jobs', schema: 'jobs', migrations: MIGRATIONS, poolSize: config.DATABASE_POOL_SIZE, lifecycle });
  if (applied.length > 0) log.info({ applied }, 'migrations applied');
  const nc = await openBus({ url: config.NATS_URL, name: 'openiothub-jobs', streams: [], lifecycle });
  const twin = connectClient(twinV1.TwinServiceClient, twinV1.TwinServiceService, config.TWIN_GRPC_URL);
  lifecycle.onStop('twin-client', () => twin.close());
  const registry = connectClient(registryV1.RegistryServiceClient, registryV1.RegistryServiceService, config.REGISTRY_GRPC_URL);
  lifecycle.onStop('registry-client', () => registry.close());

  const scope = config.JOBS_HUBS.split(',').map((h) => h.trim()).filter(Boolean);
  const store = new JobStore(pool, scope.length > 0 ? scope : undefined, config.JOBS_LEASE_GRACE_SECONDS);
  const bulkStore = new BulkJobStore(pool, scope.length > 0 ? scope : undefined);
  const service = new JobsService(store, bulkStore, { maxConcurrentPerHub: config.JOBS_MAX_CONCURRENT_PER_HUB });
  const bulk = new BulkRunner({ store: bulkStore, registry, twin, log, leaseMs: config.JOBS_BULK_LEASE_MS });
  const bulkTimer = setInterval(() => void bulk.tick().catch((err: unknown) => log.warn({ err }, 'import/export pass failed; will retry')), config.JOBS_POLL_MS);
  bulkTimer.unref();
  lifecycle.onStop('bulk-runner', () => clearInterval(bulkTimer));
  const runner = new JobRunner({
    store,
    hubMetrics: new HubMetrics(ctx.metrics),
    twin,
    nc,
    log,
    pollMs: config.JOBS_POLL_MS,
    maxInFlight: config.JOBS_MAX_IN_FLIGHT,
    ratePerSecond: config.JOBS_DEVICE_OPS_PER_SECOND,
    expansionLeaseMs: config.JOBS_EXPANSION_LEASE_MS,
    historyDays: config.JOBS_HISTORY_DAYS,
  });
  runner.start();
  lifecycle.onStop('job-runner', () => runner.stop());

  const grpcPort = await serveGrpc({ host: config.GRPC_HOST, port: config.GRPC_PORT, services: [[jobsV1.JobsServiceService, jobsHandlers(service, pool)]], lifecycle, log });
  log.info({ grpcPort }, 'jobs service listening');
  return { service, runner, grpcPort };
}
