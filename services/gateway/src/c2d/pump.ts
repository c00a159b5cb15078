import type { Logger } from '@openiothub/logging';
import { messagingV1 } from '@openiothub/proto';
import type { MessagingClient } from '../upstream/messaging-client.js';

/** How long to wait before asking again when the messaging service failed. */
const RETRY_AFTER_ERROR_MS = 2000;

/**
 * Cloud-to-device delivery to one receiving device link, whatever the protocol (MQTT
 * subscription, AMQP receiver link): receive the next message (which locks it), hand it to
 * `deliver`, and when the device settles it (`settle`) tell the messaging service and go on
 * until the queue is empty. A nudge from the messaging service (`kick`) starts a round; when
 * another delivery holds the queue's lock (a gateway that died mid-delivery) it tries again
 * when that lock expires. One message in flight keeps the queue's order.
 */
export class C2DPump {
  readonly #messaging: MessagingClient;
  readonly #log: Logger;
  readonly #key: messagingV1.QueueKey;
  readonly #generationId: string;
  readonly #deliver: (m: messagingV1.C2DMessage) => void;
  #state: 'idle' | 'busy' | 'stopped' = 'idle';
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: string | undefined;

  constructor(opts: { messaging: MessagingClient; log: Logger; key: messagingV1.QueueKey; generationId: string; deliver: (m: messagingV1.C2DMessage) => void }) {
    this.#messaging = opts.messaging;
    this.#log = opts.log;
    this.#key = opts.key;
    this.#generationId = opts.generationId;
    this.#deliver = opts.deliver;
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

  /** The identity generation this pump delivers to. */
  get generationId(): string {
    return this.#generationId;
  }

  /** Nothing in flight and no receive under way: a message handed over now ({@link offer}) goes out at once. */
  get idle(): boolean {
    return this.#state === 'idle';
  }

  /**
   * A message the messaging service locked for this pump when it was sent (the pump was idle):
   * deliver it as if received — or, when a delivery started meanwhile or the link ended, hand it
   * back (abandon, which nudges whoever holds the device).
   */
  offer(m: messagingV1.C2DMessage): void {
    if (this.#state !== 'idle') return this.#abandon(m.lockToken);
    clearTimeout(this.#timer);
    this.#state = 'busy';
    this.#inFlight = m.lockToken;
    this.#deliver(m);
  }

  /** The device settled the delivery in flight (complete, reject or abandon); then the next one goes. */
  settle(lockToken: string, outcome: messagingV1.Outcome): void {
    if (this.#inFlight !== lockToken) return;
    this.#inFlight = undefined;
    this.#messaging.settle({ key: this.#key, lockToken, outcome }).then(
      // nothing left: wait for the nudge of the next send
      (r) => (r.remaining === 0 ? this.#idle(undefined) : this.#next()),
      (err: unknown) => {
        // the lock expired before the device answered: the message will be delivered again
        this.#log.info({ category: 'C2DCommands', err, ...this.#key }, 'C2D settlement refused');
        return this.#next();
      },
    );
  }

  /** The link or connection ended: a delivery not settled goes back to the queue at once. */
  stop(): void {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    clearTimeout(this.#timer);
    const token = this.#inFlight;
    this.#inFlight = undefined;
    if (token) this.#abandon(token);
  }

  #abandon(lockToken: string): void {
    this.#messaging.settle({ key: this.#key, lockToken, outcome: messagingV1.Outcome.OUTCOME_ABANDON }).catch((err: unknown) => {
      // the lock expires by itself; the message is only delayed
      this.#log.info({ category: 'C2DCommands', err, ...this.#key }, 'C2D abandon failed; the message returns when its lock expires');
    });
  }

  async #next(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'busy';
    this.#again = false;
    let r: messagingV1.ReceiveResponse;
    try {
      r = await this.#messaging.receive({ key: this.#key, generationId: this.#generationId });
    } catch (err) {
      this.#log.warn({ category: 'C2DCommands', err, ...this.#key }, 'C2D receive failed; retrying');
      return this.#idle(RETRY_AFTER_ERROR_MS);
    }
    const m = r.message;
    if (this.#stopped()) {
      if (m) this.#abandon(m.lockToken);
      return;
    }
    if (!m) return this.#idle(r.retryAfterMs > 0 ? r.retryAfterMs + 20 : undefined);
    this.#inFlight = m.lockToken;
    this.#deliver(m);
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
