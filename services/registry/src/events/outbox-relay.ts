import { withTransaction, type Pool } from '@openiothub/postgres';
import type { NatsConnection } from '@openiothub/bus';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import type { Logger } from '@openiothub/logging';

/**
 * Moves committed outbox rows to JetStream. Rows are locked with SKIP LOCKED so N replicas share
 * the work; each is published with `Nats-Msg-Id` = its event id, so a publish repeated after a
 * crash between the JetStream ack and the DELETE is dropped by JetStream's de-duplication window.
 */
export class OutboxRelay {
  readonly #pool: Pool;
  readonly #js: JetStreamClient;
  readonly #log: Logger;
  readonly #batch: number;
  #running: Promise<void> | undefined;
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(opts: { pool: Pool; nc: NatsConnection; log: Logger; batch?: number }) {
    this.#pool = opts.pool;
    this.#js = jetstream(opts.nc);
    this.#log = opts.log;
    this.#batch = opts.batch ?? 100;
  }

  /** Start the safety-net poll (for rows left by a crashed replica or a failed publish). */
  start(pollMs = 1000): void {
    this.#timer = setInterval(() => this.kick(), pollMs);
    this.#timer.unref();
    this.kick();
  }

  /** Drain the outbox soon; coalesces concurrent kicks into one more pass. */
  kick(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#drain()
      .catch((err: unknown) => this.#log.warn({ err }, 'outbox relay pass failed; will retry'))
      .finally(() => {
        this.#running = undefined;
        if (this.#again) {
          this.#again = false;
          this.kick();
        }
      });
  }

  /** Resolve when the outbox is empty (as seen by one pass). */
  async flush(): Promise<void> {
    while (this.#running) await this.#running;
    await this.#drain();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#running;
  }

  async #drain(): Promise<void> {
    for (;;) {
      const moved = await withTransaction(this.#pool, async (c) => {
        const rows = await c.query<{ id: string; event_id: string; subject: string; headers: Record<string, string>; body: Buffer }>(
          'SELECT id, event_id, subject, headers, body FROM registry.outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED',
          [this.#batch],
        );
        if (rows.rows.length === 0) return 0;
        await Promise.all(
          rows.rows.map((r) => {
            const h = natsHeaders();
            for (const [k, v] of Object.entries(r.headers)) h.set(k, v);
            return this.#js.publish(r.subject, r.body, { msgID: r.event_id, headers: h });
          }),
        );
        await c.query('DELETE FROM registry.outbox WHERE id = ANY($1::bigint[])', [rows.rows.map((r) => r.id)]);
        return rows.rows.length;
      });
      if (moved < this.#batch) return;
    }
  }
}
