import { DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { decodeD2C, type D2CMessage } from './d2c-codec.js';
import { subjects } from './subjects.js';

/** A telemetry message read back from a D2C partition stream, with where it sits there. */
export interface ReadD2CMessage extends D2CMessage {
  readonly seq: number;
  readonly subject: string;
}

/**
 * Follow a hub's telemetry live (ordered, ephemeral consumers: nothing is acknowledged or kept):
 * every message stored after the call, from every partition stream of the hub — including
 * streams created after the call (a hub's streams appear on its first message), which are
 * looked for every `discoverMs`. Stops when `signal` aborts. For monitoring and tests; routing
 * reads with durable consumers.
 */
export async function followD2C(
  nc: NatsConnection,
  hub: string,
  onMessage: (m: ReadD2CMessage) => void,
  signal: AbortSignal,
  discoverMs = 200,
): Promise<void> {
  const since = new Date().toISOString();
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const following = new Map<string, ConsumerMessages>();
  const loops: Array<Promise<void>> = [];
  const discover = async () => {
    for await (const name of jsm.streams.names(subjects.d2cAll(hub))) {
      if (following.has(name) || signal.aborted) continue;
      const consumer = await js.consumers.get(name, { deliver_policy: DeliverPolicy.StartTime, opt_start_time: since });
      const messages = await consumer.consume();
      following.set(name, messages);
      loops.push(
        (async () => {
          for await (const m of messages) onMessage({ ...decodeD2C(m.headers, m.data), seq: m.seq, subject: m.subject });
        })(),
      );
    }
  };
  await discover();
  while (!signal.aborted) {
    await new Promise<void>((resolve) => {
      const onAbort = () => (clearTimeout(t), resolve());
      const t = setTimeout(() => (signal.removeEventListener('abort', onAbort), resolve()), discoverMs);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    if (!signal.aborted) await discover().catch(() => undefined);
  }
  for (const m of following.values()) await m.close();
  await Promise.allSettled(loops);
}
