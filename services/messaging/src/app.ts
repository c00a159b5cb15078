import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { openBus, parseIdentityChanged, subjects } from '@openiothub/bus';
import { DomainError } from '@openiothub/errors';
import { openDatabase } from '@openiothub/postgres';
import { connectClient, messagingV1, registryV1, serveGrpc } from '@openiothub/proto';
import { HubMetrics, runPeriodically, type ServiceContext } from '@openiothub/runtime';
import type { MessagingConfig } from './config.js';
import { C2DService, type IdentityLookup } from './domain/c2d-service.js';
import { messagingHandlers } from './rpc/handlers.js';
import { ConsumerGroups } from './domain/consumer-groups.js';
import { C2DStore } from './store/c2d-store.js';
import { FileUploadService } from './file-upload/file-upload-service.js';

const MIGRATIONS = fileURLToPath(new URL('../migrations', import.meta.url));

/** What a running messaging service exposes to an in-process host. */
export interface MessagingApp {
  readonly service: C2DService;
  readonly grpcPort: number;
}

function registryIdentities(url: string): IdentityLookup & { close(): void } {
  const client = connectClient(registryV1.RegistryServiceClient, registryV1.RegistryServiceService, url);
  const lookup = async (key: Parameters<IdentityLookup>[0]) => {
    try {
      const r = key.moduleId
        ? (await client.getModule({ hub: key.hub, deviceId: key.deviceId, moduleId: key.moduleId })).module
        : (await client.getDevice({ hub: key.hub, deviceId: key.deviceId })).device;
      return r ? { generationId: r.generationId } : undefined;
    } catch (err) {
      if (err instanceof DomainError && err.spec.http === 404) return undefined;
      throw err;
    }
  };
  return Object.assign(lookup, { close: () => client.close() });
}

/** Composition root: Postgres + Redis → queues; NATS nudges; periodic expiry sweep and feedback batching; gRPC. */
export async function createMessagingApp(config: MessagingConfig, ctx: ServiceContext): Promise<MessagingApp> {
  const { log, lifecycle } = ctx;
  const { pool, applied } = await openDatabase({ url: config.DATABASE_URL, name: 'openiothub-messaging', schema: 'messaging', migrations: MIGRATIONS, poolSize: config.DATABASE_POOL_SIZE, lifecycle });
  if (applied.length > 0) log.info({ applied }, 'migrations applied');
  const nc = await openBus({ url: config.NATS_URL, name: 'openiothub-messaging', streams: [], lifecycle });
  const redis = new Redis(config.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: false, enableAutoPipelining: true });
  await redis.connect();
  lifecycle.onStop('redis', async () => void (await redis.quit()));
  lifecycle.addReadinessCheck('redis', () => redis.status === 'ready');
  const identities = registryIdentities(config.REGISTRY_GRPC_URL);
  lifecycle.onStop('registry-client', () => identities.close());

  const store = new C2DStore(pool);
  const files = new FileUploadService({
    pool,
    store,
    defaults: { connectionString: config.FILE_UPLOAD_CONNECTION_STRING, containerName: config.FILE_UPLOAD_CONNECTION_STRING ? config.FILE_UPLOAD_CONTAINER : '' },
    notify: (hub) => nc.publish(subjects.fileNotifications(hub)),
    ca: config.FILE_UPLOAD_CA_PATH ? await readFile(config.FILE_UPLOAD_CA_PATH, 'utf8') : undefined,
  });
  const service = new C2DService({
    store,
    redis,
    identities,
    lockMs: config.C2D_LOCK_MS,
    nudge: (key) => nc.publish(subjects.c2d(subjects.identity(key.hub, key.deviceId, key.moduleId || undefined))),
  });
  // cached identities are dropped when the registry announces a change (a device deleted, re-created)
  nc.subscribe(subjects.identityChangedAll(), {
    callback: (err, msg) => {
      const changed = err ? undefined : parseIdentityChanged(msg.subject);
      if (changed) service.identityChanged(changed.hub, changed.deviceId);
    },
  });
  runPeriodically({ name: 'file-upload-sweep', intervalMs: 60_000, task: () => files.sweep(), onError: (err) => log.warn({ err }, 'file upload sweep failed; will retry'), lifecycle });
  runPeriodically({ name: 'c2d-expiry-sweep', intervalMs: config.SWEEP_INTERVAL_MS, task: () => service.sweep(), onError: (err) => log.warn({ err }, 'expiry sweep failed; will retry'), lifecycle });
  runPeriodically({
    name: 'feedback-batcher',
    intervalMs: config.FEEDBACK_BATCH_MS,
    task: async () => {
      for (const hub of await service.batchFeedback()) nc.publish(subjects.feedback(hub));
    },
    onError: (err) => log.warn({ err }, 'feedback batching failed; will retry'),
    lifecycle,
  });

  const grpcPort = await serveGrpc({
    host: config.GRPC_HOST,
    port: config.GRPC_PORT,
    services: [[messagingV1.MessagingServiceService, messagingHandlers(service, new ConsumerGroups(pool), files, new HubMetrics(ctx.metrics), log)]],
    lifecycle,
    log,
  });
  log.info({ grpcPort }, 'messaging service listening');
  return { service, grpcPort };
}
