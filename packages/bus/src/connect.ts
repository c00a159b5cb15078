import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { streams, type StreamName } from './subjects.js';

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
      // direct gets serve the Event Hubs endpoint's partition properties (first message of a subject)
      allow_direct: true,
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
