import { AckPolicy, DeliverPolicy, type ConsumerConfig, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { Logger } from '@openiothub/logging';
import type { WorkItem } from './leases.js';

export interface StreamWorkerOptions {
  readonly key: string;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly stream: string;
  readonly durable: string;
  /** How long a delivered, unacknowledged message waits before JetStream offers it again. */
  readonly ackWaitMs: number;
  /** Unacknowledged messages the consumer may have out at once. */
  readonly maxAckPending: number;
  /** Most messages handed to `handle` at once. */
  readonly maxBatch: number;
  /**
   * Handles a batch in stream order. It acknowledges what it finished (now, or later — a blob
   * batch is acknowledged when its blob is written); a throw retries the same batch after a pause.
   */
  readonly handle: (batch: JsMsg[]) => Promise<void>;
  /** Called at least every `tickMs`, busy or idle (the clock of batching deliverers). */
  readonly onTick?: () => Promise<void>;
  readonly tickMs?: number;
  /** Runs before the consumer is set up (make sure the stream exists). */
  readonly prepare?: () => Promise<void>;
  readonly log: Logger;
}

/**
 * Reads one stream through a durable consumer (created or updated to the options), in
 * micro-batches: whatever arrived while the previous batch was handled, up to `maxBatch`, so
 * latency stays low when traffic is light and per-message overhead drops when it is heavy.
 */
export class StreamWorker implements WorkItem {
  readonly key: string;
  readonly #o: StreamWorkerOptions;
  #queue: JsMsg[] = [];
  #wake: (() => void) | undefined;
  #messages: ConsumerMessages | undefined;
  #loop: Promise<void> | undefined;
  #stopped = false;

  constructor(opts: StreamWorkerOptions) {
    this.key = opts.key;
    this.#o = opts;
  }

  start(): void {
    this.#stopped = false;
    this.#loop = this.#run().catch((err: unknown) => this.#o.log.error({ err, stream: this.#o.stream }, 'stream worker failed'));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#messages?.close().catch(() => undefined);
    await this.#loop;
    // what was fetched but not handled goes back at once, for whoever takes over
    for (const m of this.#queue.splice(0)) m.nak();
  }

  async #ensureConsumer(): Promise<void> {
    const o = this.#o;
    const config: Partial<ConsumerConfig> & { durable_name: string } = {
      durable_name: o.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: o.ackWaitMs * 1_000_000,
      max_ack_pending: o.maxAckPending,
      max_deliver: -1,
    };
    try {
      await o.jsm.consumers.info(o.stream, o.durable);
      await o.jsm.consumers.update(o.stream, o.durable, { ack_wait: config.ack_wait!, max_ack_pending: config.max_ack_pending! });
    } catch (err) {
      if (!/not found/i.test(String(err))) throw err;
      await o.jsm.consumers.add(o.stream, config);
    }
  }

  async #run(): Promise<void> {
    const o = this.#o;
    for (let attempt = 0; !this.#stopped; attempt++) {
      try {
        await o.prepare?.();
        await this.#ensureConsumer();
        break;
      } catch (err) {
        o.log.warn({ err, stream: o.stream }, 'cannot set up the consumer; retrying');
        await this.#sleep(Math.min(5000, 200 * 2 ** attempt));
      }
    }
    if (this.#stopped) return;
    const consumer = await o.js.consumers.get(o.stream, o.durable);
    this.#messages = await consumer.consume({
      max_messages: Math.max(o.maxBatch, Math.min(o.maxAckPending, o.maxBatch * 4)),
      callback: (m) => {
        this.#queue.push(m);
        this.#wake?.();
      },
    });
    const tickMs = o.tickMs ?? 1000;
    let lastTick = Date.now();
    while (!this.#stopped) {
      if (this.#queue.length === 0) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          if (o.onTick) setTimeout(resolve, tickMs).unref();
        });
        this.#wake = undefined;
      }
      if (this.#stopped) break;
      if (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, o.maxBatch);
        await this.#retrying(() => o.handle(batch), batch);
      }
      if (o.onTick && Date.now() - lastTick >= tickMs && !this.#stopped) {
        lastTick = Date.now();
        await this.#retrying(() => o.onTick!());
      }
    }
  }

  /** Runs `fn` until it succeeds or the worker stops; a stopped worker gives the batch back. */
  async #retrying(fn: () => Promise<void>, batch?: JsMsg[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await fn();
        return;
      } catch (err) {
        this.#o.log.warn({ err, stream: this.#o.stream, attempt }, 'routing batch failed; retrying');
        if (this.#stopped) {
          for (const m of batch ?? []) m.nak();
          return;
        }
        await this.#sleep(Math.min(5000, 100 * 2 ** attempt));
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.#wake = () => (clearTimeout(t), resolve());
    });
  }
}
