import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { fileURLToPath } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Redis } from 'ioredis';
import { HubInfo, LeanJetStreamPublisher, openBus, parseIngestStream, parseRoutingChanged, parseTwinChange, routedStream, streams, subjects } from '@openiothub/bus';
import { openDatabase } from '@openiothub/postgres';
import { connectClient, registryV1, routingV1, serveGrpc, twinV1 } from '@openiothub/proto';
import { HubMetrics, runPeriodically, type ServiceContext } from '@openiothub/runtime';
import type { RoutingConfig } from './config.js';
import { BlobDeliverer, HealthTracker, WebhookDeliverer } from './engine/deliverers.js';
import { Dispatcher, ensureRoutedStream } from './engine/dispatcher.js';
import { EventGridPublisher } from './engine/event-grid.js';
import { LeaseBalancer, type WorkItem } from './engine/leases.js';
import { Router } from './engine/router.js';
import { StreamWorker } from './engine/stream-worker.js';
import { RoutingTables, TwinLookup } from './engine/tables.js';
import { routingHandlers } from './rpc/handlers.js';
import { RoutingStore } from './store/routing-store.js';

const MIGRATIONS = fileURLToPath(new URL('../migrations', import.meta.url));

/** What a running routing service exposes to an in-process host. */
export interface RoutingApp {
  readonly grpcPort: number;
  /** Work items (partitions, endpoints) this process holds now. */
  readonly held: () => readonly string[];
}

/**
 * Composition root. Every ingest partition, stream EVENTS, and every webhook/blob endpoint's
 * backlog is a work item; Redis leases spread them over the routing processes alive, each read
 * through one durable consumer. Configuration changes arrive over NATS and apply without restarts.
 */
export async function createRoutingApp(config: RoutingConfig, ctx: ServiceContext): Promise<RoutingApp> {
  const { log, lifecycle, metrics } = ctx;
  const { pool, applied } = await openDatabase({ url: config.DATABASE_URL, name: 'openiothub-routing', schema: 'routing', migrations: MIGRATIONS, poolSize: config.DATABASE_POOL_SIZE, lifecycle });
  if (applied.length > 0) log.info({ applied }, 'migrations applied');
  const nc = await openBus({ url: config.NATS_URL, name: 'openiothub-routing', streams: ['EVENTS'], lifecycle });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const redis = new Redis(config.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 2 });
  await redis.connect();
  lifecycle.addReadinessCheck('redis', () => redis.status === 'ready');

  const registry = connectClient(registryV1.RegistryServiceClient, registryV1.RegistryServiceService, config.REGISTRY_GRPC_URL);
  const twin = connectClient(twinV1.TwinServiceClient, twinV1.TwinServiceService, config.TWIN_GRPC_URL);

  const store = new RoutingStore(pool);
  const tables = new RoutingTables(store);
  const twins = new TwinLookup(twin);
  const hubInfo = new HubInfo(async (hub) => (await registry.getHub({ hub })).hub, nc);
  const publisher = new LeanJetStreamPublisher(nc);
  const eventGrid = new EventGridPublisher(store, log, config.EVENT_GRID_RETRY_MS);
  const health = new HealthTracker(store, log);
  const router = new Router({ tables, twins, dispatcher: new Dispatcher({ jsm, publisher }), hubInfo, eventGrid, log, metrics, hubMetrics: new HubMetrics(metrics) });
  // which hubs this deployment routes; its leases and its EVENTS consumer are its own
  const only = new Set(config.ROUTING_HUBS.split(',').map((x) => x.trim()).filter(Boolean));
  const serves = (hub: string) => only.size === 0 || only.has(hub);
  const shortHash = (text: string, length: number) => createHash('sha256').update(text).digest('hex').slice(0, length);
  const deployment = only.size === 0 ? '' : shortHash([...only].sort().join('\n'), 12);
  const leases = new LeaseBalancer({ redis, leaseMs: config.ROUTING_LEASE_MS, prefix: deployment ? `routing:${deployment}` : 'routing' });
  /**
   * Stream EVENTS holds every hub's events. The whole-hub deployment reads it through one durable
   * consumer. A deployment of named hubs reads each hub's events through a consumer filtered to that
   * hub: unfiltered, a new deployment's consumer would first read (and drop) every other hub's
   * events since the stream began — a million on a machine where benchmarks ran, minutes of CPU
   * while its own hub's routing waits.
   */
  const eventsWorkers: ReadonlyArray<{ key: string; durable: string; filterSubject?: string }> = deployment
    ? [...only].map((hub) => ({ key: `events:${hub}`, durable: `routing-${shortHash(hub, 16)}`, filterSubject: subjects.eventsOf(hub) }))
    : [{ key: 'events', durable: 'routing' }];

  const worker = (o: Omit<ConstructorParameters<typeof StreamWorker>[0], 'js' | 'jsm' | 'log' | 'ackWaitMs'> & { ackWaitMs?: number }) =>
    new StreamWorker({ js, jsm, log, ackWaitMs: config.ROUTING_ACK_WAIT_MS, ...o });

  /** A deliverer's work item; its key changes with the endpoint's settings, so an edit restarts it. */
  const delivererItems = new Map<string, string>();
  const discover = async () => {
    for (const e of eventsWorkers) {
      if (leases.has(e.key)) continue;
      leases.offer(worker({ ...e, stream: streams.EVENTS.name, ...(deployment ? { inactiveThresholdMs: 3_600_000 } : {}), maxAckPending: 4096, maxBatch: config.ROUTING_MAX_BATCH, handle: (b) => router.routeEvents(streams.EVENTS.name, b, serves) }));
    }
    for await (const name of jsm.streams.names(subjects.ingestAll())) {
      const parsed = parseIngestStream(name);
      if (!parsed || !serves(parsed.hub) || leases.has(`ingest:${name}`)) continue;
      const { hub, partition } = parsed;
      leases.offer(worker({ key: `ingest:${name}`, stream: name, durable: 'routing', maxAckPending: config.ROUTING_MAX_BATCH * 8, maxBatch: config.ROUTING_MAX_BATCH, pipeline: 16, handle: (b) => router.routeTelemetry(hub, partition, name, b) }));
    }
    const wanted = new Map<string, () => WorkItem>();
    for (const hub of (await store.hubs()).filter(serves)) {
      for (const e of (await tables.get(hub)).endpoints.values()) {
        if (e.kind === 'nats') continue;
        const hash = createHash('sha256').update(JSON.stringify(e)).digest('hex').slice(0, 12);
        const key = `deliver:${hub}:${e.name.toLowerCase()}:${hash}`;
        const stream = routedStream(hub, e.name).name;
        const prepare = () => ensureRoutedStream(jsm, hub, e.name);
        wanted.set(key, () => {
          const abort = new AbortController();
          setMaxListeners(0, abort.signal); // every webhook request listens on it
          const w =
            e.kind === 'webhook'
              ? worker({ key, stream, durable: 'deliver', prepare, ackWaitMs: 60_000, maxAckPending: 512, maxBatch: 32, pipeline: 4, handle: (b) => new WebhookDeliverer(hub, e, health, log, abort.signal).handle(b) })
              : (() => {
                  const blob = new BlobDeliverer(hub, e, async () => (await hubInfo.get(hub)).partitions, health);
                  return worker({ key, stream, durable: 'deliver', prepare, ackWaitMs: (e.batchFrequencyInSeconds + 120) * 1000, maxAckPending: 200_000, maxBatch: 1000, tickMs: 1000, onTick: () => blob.tick(), handle: (b) => blob.handle(b) });
                })();
          return { key, start: () => w.start(), stop: async () => (abort.abort(), await w.stop()) };
        });
      }
    }
    for (const [key] of delivererItems) {
      if (!wanted.has(key)) {
        delivererItems.delete(key);
        await leases.withdraw(key);
      }
    }
    for (const [key, make] of wanted) {
      if (delivererItems.has(key)) continue;
      delivererItems.set(key, key);
      leases.offer(make());
    }
  };
  const rebalance = async () => {
    await discover();
    await leases.tick();
  };
  runPeriodically({ name: 'routing-discovery', intervalMs: Math.min(config.ROUTING_DISCOVERY_MS, Math.floor(config.ROUTING_LEASE_MS / 3)), task: rebalance, onError: (err) => log.warn({ err }, 'routing discovery failed; will retry'), lifecycle });
  lifecycle.onStop('routing-leases', async () => {
    eventGrid.close();
    await leases.stop();
    await redis.quit();
    publisher.close();
    registry.close();
    twin.close();
  });

  nc.subscribe(subjects.routingChangedAll(), {
    callback: (err, msg) => {
      const hub = err ? undefined : parseRoutingChanged(msg.subject);
      if (!hub) return;
      tables.changed(hub);
      eventGrid.changed(hub);
    },
  });
  nc.subscribe(subjects.twinChangeAll(), {
    callback: (err, msg) => {
      const t = err ? undefined : parseTwinChange(msg.subject);
      if (t) twins.changed(t.hub, t.deviceId);
    },
  });

  const changed = (hub: string) => {
    tables.changed(hub);
    eventGrid.changed(hub);
    nc.publish(subjects.routingChanged(hub));
    void rebalance().catch((err: unknown) => log.warn({ err }, 'rebalance after a configuration change failed'));
  };
  const grpcPort = await serveGrpc({
    host: config.GRPC_HOST,
    port: config.GRPC_PORT,
    services: [[routingV1.RoutingServiceService, routingHandlers({ store, validation: { minBatchFrequencySeconds: config.ROUTING_MIN_BATCH_FREQUENCY_SECONDS }, changed })]],
    lifecycle,
    log,
  });
  log.info({ grpcPort }, 'routing service listening');
  return { grpcPort, held: () => leases.held };
}
