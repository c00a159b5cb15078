import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { decodeD2C, type D2CMessage } from './d2c-codec.js';
import { streams, subjects } from './subjects.js';

/** A telemetry message read back from the D2C stream, with where it sits there. */
export interface ReadD2CMessage extends D2CMessage {
  readonly seq: number;
  readonly subject: string;
}

/**
 * Follow a hub's telemetry live (an ordered, ephemeral consumer: nothing is acknowledged or
 * kept), from messages stored after the call. Stops when `signal` aborts. For monitoring and
 * tests — routing reads with durable consumers.
 */
export async function followD2C(
  nc: NatsConnection,
  hub: string,
  onMessage: (m: ReadD2CMessage) => void,
  signal: AbortSignal,
): Promise<void> {
  const consumer = await jetstream(nc).consumers.get(streams.D2C.name, {
    filter_subjects: subjects.d2cAll(hub),
    deliver_policy: DeliverPolicy.New,
  });
  const messages = await consumer.consume();
  const stop = () => void messages.close();
  if (signal.aborted) stop();
  signal.addEventListener('abort', stop, { once: true });
  try {
    for await (const m of messages) {
      onMessage({ ...decodeD2C(m.headers, m.data), seq: m.seq, subject: m.subject });
    }
  } finally {
    signal.removeEventListener('abort', stop);
  }
}
