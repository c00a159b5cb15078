import { jetstream } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';

/** An outbox publish function for JetStream: headers copied, `Nats-Msg-Id` = the event id. */
export function jetStreamOutboxPublisher(nc: NatsConnection) {
  const js = jetstream(nc);
  return (subject: string, headers: Record<string, string>, body: Buffer, eventId: string) => {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(headers)) h.set(k, v);
    return js.publish(subject, body, { msgID: eventId, headers: h });
  };
}
