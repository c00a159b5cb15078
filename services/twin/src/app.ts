import { fileURLToPath } from 'node:url';
import { connectNats, ensureStreams, jetStreamOutboxPublisher, subjects } from '@openiothub/bus';
import { createPool, migrate, OutboxRelay } from '@openiothub/postgres';
import { grpc, twinV1 } from '@openiothub/proto';
import type { ServiceContext } from '@openiothub/runtime';
import type { TwinConfig } from './config.js';
import { TwinService } from './domain/twin-service.js';
import { twinHandlers } from './rpc/handlers.js';
import { registryIdentities } from './rpc/registry-identities.js';
import { TwinStore } from './store/twin-store.js';

const MIGRATIONS = fileURLToPath(new URL('../migrations', import.meta.url));

/** What a running twin service exposes to an in-process host. */
export interface TwinApp {
  readonly service: TwinService;
  readonly grpcPort: number;
  readonly relay: OutboxRelay;
}

/** Composition root: Postgres → store → domain → gRPC; NATS for pushes and events; registry for identities. */
export async function createTwinApp(config: TwinConfig, ctx: ServiceContext): Promise<TwinApp> {
  const { log, lifecycle } = ctx;
  const pool = createPool(config.DATABASE_URL, 'openiothub-twin', config.DATABASE_POOL_SIZE);
  lifecycle.onStop('postgres', () => pool.end());
  const applied = await migrate(pool, 'twin', MIGRATIONS);
  if (applied.length > 0) log.info({ applied }, 'migrations applied');

  const nc = await connectNats(config.NATS_URL, 'openiothub-twin');
  lifecycle.onStop('nats', () => nc.drain());
  lifecycle.addReadinessCheck('nats', () => !nc.isClosed());
  await ensureStreams(nc, ['EVENTS']);
  const identities = registryIdentities(config.REGISTRY_GRPC_URL);
  lifecycle.onStop('registry-client', () => identities.close());

  const relay = new OutboxRelay({ pool, schema: 'twin', publish: jetStreamOutboxPublisher(nc), onError: (err) => log.warn({ err }, 'outbox relay pass failed; will retry') });
  const service = new TwinService({
    store: new TwinStore(pool, () => relay.kick()),
    identities,
    // desired patches reach a device only while connected (devguide §11.8): core NATS, not stored
    push: (hub, deviceId, moduleId, patch) => nc.publish(subjects.desired(subjects.identity(hub, deviceId, moduleId || undefined)), JSON.stringify(patch)),
  });
  relay.start();
  lifecycle.onStop('outbox-relay', () => relay.stop());

  const server = new grpc.Server();
  server.addService(twinV1.TwinServiceService, twinHandlers(service));
  const grpcPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${config.GRPC_HOST}:${config.GRPC_PORT}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  lifecycle.onStop('grpc-server', () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())));
  log.info({ grpcPort }, 'twin service listening');
  return { service, grpcPort, relay };
}
