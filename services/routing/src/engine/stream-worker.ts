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
   * Batches handled at once (default 1: one after another, a failed batch retried until it
   * succeeds). Above 1, the next batch starts while earlier ones wait for their endpoints; a failed
   * batch is handed back to JetStream (nak) and comes again. `handle` keeps what must stay in order.
   */
  readonly pipeline?: number;
  /**
   * Handles a batch in stream order. It acknowledges what it finished (now, or later — a blob
   * batch is acknowledged when its blob is written); a throw retries the same batch after a pause.
   */
  readonly handle: (batch: JsMsg[]) => Promise<void>;
  /** Called at least every `tickMs`, busy or idle (the clock of batching deliverers). */
  readonly onTick?: () => Promise<void>;
  readonly tickMs?: number;
  /** Let JetStream delete the durable consumer after this long unused (for consumers of short-lived deployments). */
  readonly inactiveThresholdMs?: number;
  /** Only the stream's messages on this subject (set when the consumer is created). */
  readonly filterSubject?: string;
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
  #space: (() => void) | undefined;
  #reader: Promise<void> | undefined;
  #messages: ConsumerMessages | undefined;
  #loop: Promise<void> | undefined;
  #stopped = false;
  readonly #inflight = new Set<Promise<void>>();

  constructor(opts: StreamWorkerOptions) {
    this.key = opts.key;
    // room for every batch in flight, the queue and one pull, so the server's limit is never what stops delivery
    const needed = opts.maxBatch * ((opts.pipeline ?? 1) + 3);
    this.#o = { ...opts, maxAckPending: Math.max(opts.maxAckPending, needed) };
  }

  start(): void {
    this.#stopped = false;
    this.#loop = this.#run().catch((err: unknown) => this.#o.log.error({ category: 'Routes', err, stream: this.#o.stream }, 'stream worker failed'));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    this.#space?.();
    await this.#messages?.close().catch(() => undefined);
    await this.#loop;
    await this.#reader;
    await Promise.allSettled(this.#inflight);
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
      ...(o.inactiveThresholdMs ? { inactive_threshold: o.inactiveThresholdMs * 1_000_000 } : {}),
      ...(o.filterSubject ? { filter_subject: o.filterSubject } : {}),
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
        o.log.warn({ category: 'Routes', err, stream: o.stream }, 'cannot set up the consumer; retrying');
        await this.#sleep(Math.min(5000, 200 * 2 ** attempt));
      }
    }
    if (this.#stopped) return;
    const consumer = await o.js.consumers.get(o.stream, o.durable);
    // Iterator mode, not a callback: the client pulls more only as this loop takes messages, and it
    // stops taking while the queue is full. Unbounded buffering would run the consumer into its
    // max_ack_pending, where the server stops answering pulls and the client waits for missed
    // heartbeats (tens of seconds) before pulling again.
    const highWater = o.maxBatch * 2;
    let lastMessage = Date.now();
    const read = async () => {
      const messages = await consumer.consume({ max_messages: o.maxBatch });
      this.#messages = messages;
      this.#reader = (async () => {
        for await (const m of messages) {
          lastMessage = Date.now();
          this.#queue.push(m);
          this.#wake?.();
          while (this.#queue.length >= highWater && !this.#stopped) await new Promise<void>((r) => (this.#space = r));
        }
      })().catch((err: unknown) => o.log.warn({ category: 'Routes', err, stream: o.stream }, 'consumer stopped'));
    };
    await read();
    // Watchdog: seen under load (NATS 2.9, @nats-io/jetstream 3.4) — the server holds no pull
    // request of ours while messages wait, and the client only notices after its heartbeat
    // timeout. When idle with work waiting, pull afresh.
    const watchdog = setInterval(() => {
      if (this.#stopped || this.#queue.length > 0 || this.#inflight.size > 0 || Date.now() - lastMessage < 2000) return;
      void consumer.info().then(
        async (info) => {
          if (this.#stopped || info.num_pending === 0 || info.num_waiting > 0 || Date.now() - lastMessage < 2000) return;
          o.log.warn({ category: 'Routes', stream: o.stream, pending: info.num_pending }, 'no pull outstanding while messages wait: pulling afresh');
          lastMessage = Date.now();
          await this.#messages?.close().catch(() => undefined);
          await this.#reader;
          if (!this.#stopped) await read();
        },
        () => undefined,
      );
    }, 1000);
    watchdog.unref();
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
        this.#space?.();
        if ((o.pipeline ?? 1) <= 1) await this.#retrying(() => o.handle(batch), batch);
        else {
          const p: Promise<void> = o.handle(batch).then(
            () => void this.#inflight.delete(p),
            (err: unknown) => {
              this.#inflight.delete(p);
              o.log.warn({ category: 'Routes', err, stream: o.stream }, 'routing batch failed; handed back for redelivery');
              for (const m of batch) m.nak(500);
            },
          );
          this.#inflight.add(p);
          if (this.#inflight.size >= o.pipeline!) await Promise.race(this.#inflight);
        }
      }
      if (o.onTick && Date.now() - lastTick >= tickMs && !this.#stopped) {
        lastTick = Date.now();
        await this.#retrying(() => o.onTick!());
      }
    }
    clearInterval(watchdog);
  }

  /** Runs `fn` until it succeeds or the worker stops; a stopped worker gives the batch back. */
  async #retrying(fn: () => Promise<void>, batch?: JsMsg[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await fn();
        return;
      } catch (err) {
        this.#o.log.warn({ category: 'Routes', err, stream: this.#o.stream, attempt }, 'routing batch failed; retrying');
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
