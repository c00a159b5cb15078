import { messagingV1 } from '@openiothub/proto';
import { c2dTopic } from '../c2d/wire.js';
import type { MqttConnection } from './connection.js';

/** How long to wait before asking again when the messaging service failed. */
const RETRY_AFTER_ERROR_MS = 2000;

/**
 * Cloud-to-device delivery to one subscribed MQTT connection (protocols-ops §1.6): receive the
 * next message (which locks it), PUBLISH it at QoS 1, complete it on PUBACK, repeat until the
 * queue is empty. A nudge from the messaging service (`kick`) starts a round; when another
 * delivery holds the queue's lock (a gateway that died mid-delivery) it tries again when that
 * lock expires. One message in flight per connection keeps the queue's order.
 */
export class C2DPump {
  readonly #conn: MqttConnection;
  readonly #key: messagingV1.QueueKey;
  readonly #generationId: string;
  #state: 'idle' | 'busy' | 'stopped' = 'idle';
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: { packetId: number; lockToken: string } | undefined;

  constructor(conn: MqttConnection) {
    const est = conn.established!;
    this.#conn = conn;
    this.#key = { hub: est.auth.hub, deviceId: est.auth.deviceId, moduleId: est.auth.moduleId ?? '' };
    this.#generationId = est.auth.generationId;
  }

  /** Messages may be waiting: deliver them (now, or after the delivery in progress). */
  kick(): void {
    if (this.#state === 'stopped') return;
    if (this.#state === 'busy') {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#state = 'busy';
    this.#again = false;
    void this.#next();
  }

  /** The device acknowledged a PUBLISH; if it is the C2D delivery, complete it and go on. */
  onPuback(packetId: number): void {
    const f = this.#inFlight;
    if (!f || f.packetId !== packetId) return;
    this.#inFlight = undefined;
    this.#conn.deps.messaging.settle({ key: this.#key, lockToken: f.lockToken, outcome: messagingV1.Outcome.OUTCOME_COMPLETE }).then(
      // nothing left: wait for the nudge of the next send
      (r) => (r.remaining === 0 ? this.#idle(undefined) : this.#next()),
      (err: unknown) => {
        // the lock expired before the PUBACK came: the message will be delivered again
        this.#conn.deps.log.info({ err, ...this.#key }, 'C2D completion refused');
        return this.#next();
      },
    );
  }

  /** The connection ended: a delivery not acknowledged goes back to the queue at once. */
  stop(): void {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    clearTimeout(this.#timer);
    const f = this.#inFlight;
    this.#inFlight = undefined;
    if (f) this.#abandon(f.lockToken);
  }

  #abandon(lockToken: string): void {
    this.#conn.deps.messaging.settle({ key: this.#key, lockToken, outcome: messagingV1.Outcome.OUTCOME_ABANDON }).catch((err: unknown) => {
      // the lock expires by itself; the message is only delayed
      this.#conn.deps.log.info({ err, ...this.#key }, 'C2D abandon failed; the message returns when its lock expires');
    });
  }

  async #next(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'busy';
    this.#again = false;
    let r: messagingV1.ReceiveResponse;
    try {
      r = await this.#conn.deps.messaging.receive({ key: this.#key, generationId: this.#generationId });
    } catch (err) {
      this.#conn.deps.log.warn({ err, ...this.#key }, 'C2D receive failed; retrying');
      return this.#idle(RETRY_AFTER_ERROR_MS);
    }
    const m = r.message;
    if (this.#stopped()) {
      if (m) this.#abandon(m.lockToken);
      return;
    }
    if (!m) return this.#idle(r.retryAfterMs > 0 ? r.retryAfterMs + 20 : undefined);
    const packetId = this.#conn.nextPacketId();
    this.#inFlight = { packetId, lockToken: m.lockToken };
    this.#conn.send({
      cmd: 'publish',
      topic: c2dTopic(this.#key.deviceId, this.#key.moduleId || undefined, m),
      payload: m.body,
      qos: 1,
      messageId: packetId,
      retain: false,
      dup: false,
    });
  }

  // a method, so the compiler does not assume the state is unchanged across an await
  #stopped(): boolean {
    return this.#state === 'stopped';
  }

  #idle(retryMs: number | undefined): void {
    if (this.#state === 'stopped') return;
    this.#state = 'idle';
    if (this.#again) return this.kick();
    if (retryMs !== undefined) {
      this.#timer = setTimeout(() => this.kick(), retryMs);
      this.#timer.unref();
    }
  }
}
