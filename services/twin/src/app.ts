import { fileURLToPath } from 'node:url';
import { headers, jetStreamOutboxPublisher, openBus, subjects } from '@openiothub/bus';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { openDatabase, OutboxRelay } from '@openiothub/postgres';
import { serveGrpc, twinV1 } from '@openiothub/proto';
import type { ServiceContext } from '@openiothub/runtime';
import type { TwinConfig } from './config.js';
import { TwinService } from './domain/twin-service.js';
import { TwinQueryEngine } from './query/engine.js';
import { ConfigurationReconciler } from './configurations/reconciler.js';
import { ConfigurationService } from './configurations/service.js';
import { ConfigurationStore } from './configurations/store.js';
import { twinHandlers } from './rpc/handlers.js';
import { registryIdentities } from './rpc/registry-identities.js';
import { TwinStore } from './store/twin-store.js';

const MIGRATIONS = fileURLToPath(new URL('../migrations', import.meta.url));

/** What a running twin service exposes to an in-process host. */
export interface TwinApp {
  readonly service: TwinService;
  readonly grpcPort: number;
  readonly relay: OutboxRelay;
  readonly reconciler: ConfigurationReconciler;
}

/** Composition root: Postgres → store → domain → gRPC; NATS for pushes and events; registry for identities. */
export async function createTwinApp(config: TwinConfig, ctx: ServiceContext): Promise<TwinApp> {
  const { log, lifecycle } = ctx;
  const { pool, applied } = await openDatabase({ url: config.DATABASE_URL, name: 'openiothub-twin', schema: 'twin', migrations: MIGRATIONS, poolSize: config.DATABASE_POOL_SIZE, lifecycle });
  if (applied.length > 0) log.info({ applied }, 'migrations applied');
  const nc = await openBus({ url: config.NATS_URL, name: 'openiothub-twin', streams: ['EVENTS'], lifecycle });
  const identities = registryIdentities(config.REGISTRY_GRPC_URL);
  lifecycle.onStop('registry-client', () => identities.close());

  const relay = new OutboxRelay({ pool, schema: 'twin', publish: jetStreamOutboxPublisher(nc), onError: (err) => log.warn({ err }, 'outbox relay pass failed; will retry') });
  const service = new TwinService({
    store: new TwinStore(pool, () => relay.kick()),
    identities,
    // desired patches reach a device only while connected (devguide §11.8): core NATS, not stored
    push: (hub, deviceId, moduleId, patch) => {
      const h = natsHeaders();
      h.set(headers.desiredVersion, String(patch['$version']));
      nc.publish(subjects.desired(subjects.identity(hub, deviceId, moduleId || undefined)), JSON.stringify(patch), { headers: h });
    },
  });
  relay.start();
  lifecycle.onStop('outbox-relay', () => relay.stop());

  const queries = new TwinQueryEngine(pool);
  const configurationStore = new ConfigurationStore(pool);
  const reconciler = new ConfigurationReconciler({ store: configurationStore, queries, twins: service, log, intervalMs: config.CONFIG_RECONCILE_MS });
  service.onWrite = (hub) => reconciler.twinWritten(hub);
  const configurations = new ConfigurationService({ store: configurationStore, queries, reconciler, twins: service });
  reconciler.start();
  lifecycle.onStop('configuration-reconciler', () => reconciler.stop());

  const grpcPort = await serveGrpc({
    host: config.GRPC_HOST,
    port: config.GRPC_PORT,
    services: [[twinV1.TwinServiceService, twinHandlers(service, queries, configurations, log)]],
    lifecycle,
    log,
  });
  log.info({ grpcPort }, 'twin service listening');
  return { service, grpcPort, relay, reconciler };
}
