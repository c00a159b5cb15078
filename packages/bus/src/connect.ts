import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { d2cStream, LEGACY_D2C_STREAM, streams, type StreamName } from './subjects.js';

export type { NatsConnection };

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
      duplicate_window: 2 * 60 * 1_000_000_000,
    };
    try {
      await jsm.streams.info(def.name);
      await jsm.streams.update(def.name, config);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await jsm.streams.add(config);
      } catch (addErr) {
        // another replica created it between our info() and add()
        if (!String(addErr).includes('already in use')) throw addErr;
      }
    }
  }
  return jsm;
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
      for (let p = 0; p < partitions; p++) {
        const { name, subject } = d2cStream(hub, p);
        const config = {
          name,
          subjects: [subject],
          num_replicas: 1,
          max_age: retentionDays * 86_400_000 * 1_000_000, // nanoseconds
          duplicate_window: 2 * 60 * 1_000_000_000,
          allow_direct: true,
        };
        try {
          await jsm.streams.info(name);
          await jsm.streams.update(name, config);
        } catch (err) {
          if (!isNotFound(err)) throw err;
          await jsm.streams.add(config).catch((addErr: unknown) => {
            if (!String(addErr).includes('already in use')) throw addErr;
          });
        }
      }
    })();
    done.catch(() => byHub.delete(key));
    byHub.set(key, done);
  }
  return done;
}
