import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { LeanJetStreamPublisher } from './lean-publisher.js';

/**
 * An outbox publish function for JetStream: headers copied, `Nats-Msg-Id` = the event id (a
 * publish repeated after a crash is dropped as a duplicate). Through {@link LeanJetStreamPublisher}:
 * the same stored-before-acknowledged guarantee as `js.publish` without its per-message timer and
 * stack trace (every twin write is an event).
 */
export function jetStreamOutboxPublisher(nc: NatsConnection) {
  const publisher = new LeanJetStreamPublisher(nc);
  return (subject: string, headers: Record<string, string>, body: Buffer, eventId: string) => {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(headers)) h.set(k, v);
    h.set('Nats-Msg-Id', eventId);
    return publisher.publish(subject, body, h);
  };
}
