import rhea, { type Delivery, type Sender } from 'rhea';
import { subjects, type NatsConnection } from '@openiothub/bus';
import type { Logger } from '@openiothub/logging';
import { messagingV1 } from '@openiothub/proto';
import type { MessagingClient } from '../upstream/messaging-client.js';

/** What a feedback pump needs. */
export interface FeedbackDeps {
  readonly nc: NatsConnection;
  readonly messaging: MessagingClient;
  readonly log: Logger;
}

/** Which service-bound queue a pump drains, the subject that wakes it and its content type. */
export const SERVICE_QUEUES = {
  feedback: { queue: messagingV1.ServiceQueue.SERVICE_QUEUE_FEEDBACK, subject: subjects.feedback, contentType: 'application/vnd.microsoft.iothub.feedback.json' },
  fileNotifications: { queue: messagingV1.ServiceQueue.SERVICE_QUEUE_FILE_NOTIFICATIONS, subject: subjects.fileNotifications, contentType: 'application/json' },
} as const;
export type ServiceQueueName = keyof typeof SERVICE_QUEUES;

/**
 * Feedback (or file-upload notifications) to one service receiver link: lock the hub's next feedback message, send it, settle it
 * by the receiver's disposition (accept = complete, reject = complete (dead-letter), release or
 * modify = abandon), repeat. Idle until the messaging service announces feedback, or a slow poll.
 */
export class FeedbackPump {
  readonly #deps: FeedbackDeps;
  readonly #hub: string;
  readonly #link: Sender;
  readonly #track: (d: Delivery, lockToken: string) => void;
  readonly #sub: ReturnType<NatsConnection['subscribe']>;
  readonly #poll: NodeJS.Timeout;
  readonly #queue: (typeof SERVICE_QUEUES)[ServiceQueueName];
  #busy = false;
  #inFlight = false;
  #stopped = false;

  constructor(deps: FeedbackDeps, hub: string, link: Sender, track: (d: Delivery, lockToken: string) => void, queue: ServiceQueueName = 'feedback') {
    this.#deps = deps;
    this.#hub = hub;
    this.#link = link;
    this.#track = track;
    this.#queue = SERVICE_QUEUES[queue];
    this.#sub = deps.nc.subscribe(this.#queue.subject(hub), { callback: () => this.kick() });
    this.#poll = setInterval(() => this.kick(), 5000);
    this.#poll.unref();
  }

  kick(): void {
    if (this.#stopped || this.#busy || this.#inFlight || !this.#link.sendable()) return;
    this.#busy = true;
    this.#deps.messaging.receiveFeedback({ hub: this.#hub, queue: this.#queue.queue }).then(
      (r) => {
        this.#busy = false;
        const m = r.message;
        if (!m) return;
        if (this.#stopped) {
          void this.#settleQuietly(m.lockToken, messagingV1.Outcome.OUTCOME_ABANDON);
          return;
        }
        this.#inFlight = true;
        const delivery = this.#link.send({
          body: rhea.message.data_section(Buffer.from(m.bodyJson, 'utf8')),
          message_id: m.messageId,
          user_id: m.userId,
          content_type: this.#queue.contentType,
          ...(m.expiryTime ? { absolute_expiry_time: m.expiryTime } : {}),
          message_annotations: { 'iothub-enqueuedtime': m.enqueuedTime ?? new Date(), 'iothub-deliverycount': m.deliveryCount },
        });
        this.#track(delivery, m.lockToken);
      },
      (err: unknown) => {
        this.#busy = false;
        this.#deps.log.warn({ category: 'C2DCommands', err, hub: this.#hub }, 'feedback receive failed');
      },
    );
  }

  settle(lockToken: string, outcome: messagingV1.Outcome): void {
    this.#inFlight = false;
    // a rejected feedback message is dead-lettered: it leaves the queue like a completed one
    const o = outcome === messagingV1.Outcome.OUTCOME_REJECT ? messagingV1.Outcome.OUTCOME_COMPLETE : outcome;
    void this.#settleQuietly(lockToken, o).then(() => this.kick());
  }

  async #settleQuietly(lockToken: string, outcome: messagingV1.Outcome): Promise<void> {
    try {
      await this.#deps.messaging.settleFeedback({ hub: this.#hub, lockToken, outcome, queue: this.#queue.queue });
    } catch (err) {
      this.#deps.log.info({ category: 'C2DCommands', err, hub: this.#hub }, 'feedback settlement refused (lock expired); it will be delivered again');
    }
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#poll);
    this.#sub.unsubscribe();
  }
}
