import { fileURLToPath } from 'node:url';
import { jetStreamOutboxPublisher, openBus, subjects } from '@openiothub/bus';
import { openDatabase, OutboxRelay } from '@openiothub/postgres';
import { registryV1, serveGrpc } from '@openiothub/proto';
import type { ServiceContext } from '@openiothub/runtime';
import type { RegistryConfig } from './config.js';
import { RegistryService } from './domain/registry-service.js';
import { CaCertificates } from './domain/ca-certificates.js';
import { HubSettings } from './domain/hub-settings.js';
import { registryHandlers } from './rpc/handlers.js';
import { PgRegistryStore } from './store/pg-registry-store.js';

const MIGRATIONS = fileURLToPath(new URL('../migrations', import.meta.url));

/** What a running registry exposes to an in-process host (the local runner, tests). */
export interface RegistryApp {
  readonly service: RegistryService;
  readonly grpcPort: number;
  readonly relay: OutboxRelay;
}

/** Composition root: Postgres → store → domain → gRPC; NATS for events. */
export async function createRegistryApp(config: RegistryConfig, ctx: ServiceContext): Promise<RegistryApp> {
  const { log, lifecycle } = ctx;
  const { pool, applied } = await openDatabase({ url: config.DATABASE_URL, name: 'openiothub-registry', schema: 'registry', migrations: MIGRATIONS, lifecycle });
  if (applied.length > 0) log.info({ applied }, 'migrations applied');
  const nc = await openBus({ url: config.NATS_URL, name: 'openiothub-registry', streams: ['EVENTS'], lifecycle });

  const relay = new OutboxRelay({
    pool,
    schema: 'registry',
    publish: jetStreamOutboxPublisher(nc),
    onError: (err) => log.warn({ err }, 'outbox relay pass failed; will retry'),
  });
  const store = new PgRegistryStore(pool, () => relay.kick());
  const service = new RegistryService({
    store,
    maxDevices: config.MAX_DEVICES_PER_HUB,
    identityChanged: (hub, deviceId) => nc.publish(subjects.identityChanged(hub, deviceId)),
  });
  relay.start();
  lifecycle.onStop('outbox-relay', () => relay.stop());

  if (config.DEFAULT_HUB) {
    const { created } = await service.ensureHub(config.DEFAULT_HUB, { partitionCount: config.DEFAULT_HUB_PARTITIONS, retentionDays: config.DEFAULT_HUB_RETENTION_DAYS });
    if (created) log.info({ hub: config.DEFAULT_HUB }, 'hub created');
  }

  const grpcPort = await serveGrpc({
    host: config.GRPC_HOST,
    port: config.GRPC_PORT,
    services: [[registryV1.RegistryServiceService, registryHandlers(service, new CaCertificates(pool), new HubSettings(pool, (hub) => nc.publish(subjects.hubSettingsChanged(hub))))]],
    lifecycle,
    log,
  });
  log.info({ grpcPort }, 'registry listening');
  return { service, grpcPort, relay };
}
