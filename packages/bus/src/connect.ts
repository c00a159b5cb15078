import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, RetentionPolicy, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { d2cStream, ingestStream, LEGACY_D2C_STREAM, streams, type StreamName } from './subjects.js';

export type { NatsConnection };

/** JetStream de-duplication window of every stream we create: resends within it are dropped. */
export const DEDUP_WINDOW_NS = 2 * 60 * 1_000_000_000;

/** Connect to NATS. `noAsyncTraces` avoids a stack trace per request (spec/baselines.md: ~55% of publish CPU). */
export async function connectNats(url: string, name: string): Promise<NatsConnection> {
  return connect({ servers: url.split(','), name, noAsyncTraces: true, maxReconnectAttempts: -1 });
}

/**
 * Create or update the named streams. Idempotent, safe for N replicas starting together. Uses only
 * NATS 2.9 features (the Debian server these machines run; spec/tooling.md §2).
 */
export async function ensureStreams(
  nc: NatsConnection,
  names: readonly StreamName[],
  opts: { replicas?: number; maxAgeMs?: number } = {},
): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  for (const key of names) {
    const def = streams[key];
    const config = {
      name: def.name,
      subjects: [...def.subjects],
      num_replicas: opts.replicas ?? 1,
      max_age: (opts.maxAgeMs ?? 7 * 24 * 3600_000) * 1_000_000, // nanoseconds
      duplicate_window: DEDUP_WINDOW_NS,
    };
    await ensureStream(jsm, config);
  }
  return jsm;
}

/** Create the stream, or bring an existing one to `config`. Safe when many processes race to create it. */
export async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await jsm.streams.info(config.name);
    await jsm.streams.update(config.name, config);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await jsm.streams.add(config);
    } catch (addErr) {
      // another process created it between our info() and add()
      if (!String(addErr).includes('already in use')) throw addErr;
    }
  }
}

function isNotFound(err: unknown): boolean {
  return /not found/i.test(String((err as Error)?.message ?? err));
}

/**
 * A service's bus connection: connected, drained on stop, reported in readiness, with the named
 * streams in place.
 */
export async function openBus(opts: {
  url: string;
  name: string;
  streams: readonly StreamName[];
  lifecycle: { onStop(name: string, fn: () => Promise<void> | void): void; addReadinessCheck(name: string, check: () => boolean): void };
}): Promise<NatsConnection> {
  const nc = await connectNats(opts.url, opts.name);
  opts.lifecycle.onStop('nats', () => nc.drain());
  opts.lifecycle.addReadinessCheck('nats', () => !nc.isClosed());
  await ensureStreams(nc, opts.streams);
  return nc;
}

const ensured = new WeakMap<NatsConnection, Map<string, Promise<void>>>();

/**
 * Make sure a hub's telemetry streams exist: one per partition, keeping `retentionDays` of
 * messages, deduplicating resends for 2 minutes, with direct gets (the Event Hubs endpoint reads
 * partition properties with them). Idempotent and cached per connection; safe for many
 * processes at once. The first call also removes the old all-hubs stream, whose `d2c.>` would
 * overlap.
 */
export function ensureD2CStreams(nc: NatsConnection, hub: string, partitions: number, retentionDays: number): Promise<void> {
  let byHub = ensured.get(nc);
  if (!byHub) {
    byHub = new Map();
    ensured.set(nc, byHub);
  }
  const key = `${hub}\n${partitions}\n${retentionDays}`;
  let done = byHub.get(key);
  if (!done) {
    done = (async () => {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete(LEGACY_D2C_STREAM).catch(() => undefined);
      const maxAge = retentionDays * 86_400_000 * 1_000_000; // nanoseconds
      for (let p = 0; p < partitions; p++) {
        const d2c = d2cStream(hub, p);
        await ensureStream(jsm, { name: d2c.name, subjects: [d2c.subject], num_replicas: 1, max_age: maxAge, duplicate_window: DEDUP_WINDOW_NS, allow_direct: true });
        // what devices sent, until routing moved it on: a work queue (acked messages leave it)
        const ingest = ingestStream(hub, p);
        await ensureStream(jsm, { name: ingest.name, subjects: [ingest.subject], num_replicas: 1, max_age: maxAge, duplicate_window: DEDUP_WINDOW_NS, retention: RetentionPolicy.Workqueue });
      }
    })();
    done.catch(() => byHub.delete(key));
    byHub.set(key, done);
  }
  return done;
}
