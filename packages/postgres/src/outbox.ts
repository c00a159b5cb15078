import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { withTransaction } from './index.js';

/** One event to publish after the transaction that wrote it commits. */
export interface OutboxEvent {
  readonly subject: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/**
 * Write `event` to `{schema}.outbox` in the caller's transaction (table created by the service's
 * migration: id bigserial, event_id uuid, subject text, headers jsonb, body bytea, created_at).
 */
export async function writeOutbox(client: pg.PoolClient, schema: string, event: OutboxEvent): Promise<void> {
  await client.query(`INSERT INTO ${schema}.outbox (event_id, subject, headers, body) VALUES ($1, $2, $3, $4)`, [
    randomUUID(),
    event.subject,
    JSON.stringify(event.headers),
    event.body,
  ]);
}

/** Publishes one stored event; must be idempotent per `eventId` (JetStream: `Nats-Msg-Id`). */
export type OutboxPublish = (subject: string, headers: Record<string, string>, body: Buffer, eventId: string) => Promise<unknown>;

/**
 * Moves committed outbox rows to the bus. Rows are locked with SKIP LOCKED so N replicas share
 * the work; each is published with its event id for de-duplication, so a publish repeated after a
 * crash between the bus ack and the DELETE is dropped by the bus.
 */
export class OutboxRelay {
  readonly #pool: pg.Pool;
  readonly #table: string;
  readonly #publish: OutboxPublish;
  readonly #onError: (err: unknown) => void;
  readonly #batch: number;
  #running: Promise<void> | undefined;
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(opts: { pool: pg.Pool; schema: string; publish: OutboxPublish; onError: (err: unknown) => void; batch?: number }) {
    this.#pool = opts.pool;
    this.#table = `${opts.schema}.outbox`;
    this.#publish = opts.publish;
    this.#onError = opts.onError;
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
      .catch((err: unknown) => this.#onError(err))
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
      // taken and deleted in one statement; the delete commits only after every publish succeeded
      const moved = await withTransaction(this.#pool, async (c) => {
        const { rows } = await c.query<{ id: string; event_id: string; subject: string; headers: Record<string, string>; body: Buffer }>(
          `DELETE FROM ${this.#table} WHERE id IN (SELECT id FROM ${this.#table} ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING id, event_id, subject, headers, body`,
          [this.#batch],
        );
        // RETURNING has no order: publish in the order written
        rows.sort((a, b) => a.id.length - b.id.length || (a.id < b.id ? -1 : 1));
        await Promise.all(rows.map((r) => this.#publish(r.subject, r.headers, r.body, r.event_id)));
        return rows.length;
      });
      if (moved < this.#batch) return;
    }
  }
}
