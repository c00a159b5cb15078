import { fileURLToPath } from 'node:url';
import { connectNats, ensureStreams, jetStreamOutboxPublisher, subjects } from '@openiothub/bus';
import { createPool, migrate, OutboxRelay } from '@openiothub/postgres';
import { grpc, registryV1 } from '@openiothub/proto';
import type { ServiceContext } from '@openiothub/runtime';
import type { RegistryConfig } from './config.js';
import { RegistryService } from './domain/registry-service.js';
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
  const pool = createPool(config.DATABASE_URL, 'openiothub-registry');
  lifecycle.onStop('postgres', () => pool.end());
  const applied = await migrate(pool, 'registry', MIGRATIONS);
  if (applied.length > 0) log.info({ applied }, 'migrations applied');

  const nc = await connectNats(config.NATS_URL, 'openiothub-registry');
  lifecycle.onStop('nats', () => nc.drain());
  lifecycle.addReadinessCheck('nats', () => !nc.isClosed());
  await ensureStreams(nc, ['EVENTS']);

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
    const { created } = await service.ensureHub(config.DEFAULT_HUB);
    if (created) log.info({ hub: config.DEFAULT_HUB }, 'hub created');
  }

  const server = new grpc.Server();
  server.addService(registryV1.RegistryServiceService, registryHandlers(service));
  const grpcPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${config.GRPC_HOST}:${config.GRPC_PORT}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  lifecycle.onStop('grpc-server', () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())));
  log.info({ grpcPort }, 'registry listening');
  return { service, grpcPort, relay };
}
