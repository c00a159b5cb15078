import { randomUUID } from 'node:crypto';
import { DomainError } from '@openiothub/errors';
import { withTransaction, type Pool, type PoolClient } from '@openiothub/postgres';
import { CallBatcher } from '@openiothub/proto';
import { DEFAULT_SETTINGS, type C2DSettings } from '../domain/settings.js';
import { ANY_MESSAGE, ENQUEUE, LOCK_HEADS, MAX_QUEUE_DEPTH, QUEUE, REMOVE_LOCKED, queueParams, toLocked, type C2DRow, type Enqueue, type Enqueued, type LockRequest, type Removal } from './c2d-sql.js';
import { ACK_MODES, wantsFeedback, type FeedbackRecord, type FeedbackStatus, type LockedFeedback, type LockedMessage, type OutgoingMessage, type QueueKey } from '../domain/types.js';

export { MAX_QUEUE_DEPTH } from './c2d-sql.js';

/** A hub's two service-bound queues. */
export type ServiceQueue = 'feedback' | 'file';

interface FeedbackRow {
  seq: string;
  message_id: string;
  body: FeedbackRecord[];
  enqueued_at: Date;
  expires_at: Date;
  delivery_count: number;
}

const queueFull = (key: QueueKey) =>
  new DomainError('DeviceMaximumQueueDepthExceeded', `The queue of ${key.moduleId ? `module ${key.moduleId} on ` : ''}device ${key.deviceId} already holds ${MAX_QUEUE_DEPTH} messages.`);

/**
 * Postgres side of the C2D queues and the feedback queue. Every outcome that leaves a message
 * (complete, reject, expiry, delivery count, purge) deletes the row and, in the same transaction,
 * writes the feedback record its ack mode asks for — an outcome is never lost between the two.
 */
export class C2DStore {
  readonly #pool: Pool;
  readonly #enqueues = new CallBatcher<Enqueue, Enqueued>((items) => this.#enqueueMany(items), { maxBatch: 64 });
  readonly #locks = new CallBatcher<LockRequest, { row: C2DRow | undefined }>((items) => this.#lockHeads(items));
  readonly #removals = new CallBatcher<Removal, { remaining: number | undefined }>((items) => this.#removeMany(items));

  constructor(pool: Pool) {
    this.#pool = pool;
  }

  async settings(hub: string): Promise<C2DSettings> {
    const r = await this.#pool.query<{ default_ttl_ms: string; max_delivery_count: number; feedback_ttl_ms: string; feedback_max_delivery_count: number; feedback_lock_ms: string }>(
      'SELECT * FROM messaging.settings WHERE hub = $1',
      [hub],
    );
    const row = r.rows[0];
    if (!row) return DEFAULT_SETTINGS;
    return {
      defaultTtlMs: Number(row.default_ttl_ms),
      maxDeliveryCount: row.max_delivery_count,
      feedbackTtlMs: Number(row.feedback_ttl_ms),
      feedbackMaxDeliveryCount: row.feedback_max_delivery_count,
      feedbackLockMs: Number(row.feedback_lock_ms),
    };
  }

  async saveSettings(hub: string, s: C2DSettings): Promise<void> {
    await this.#pool.query(
      `INSERT INTO messaging.settings (hub, default_ttl_ms, max_delivery_count, feedback_ttl_ms, feedback_max_delivery_count, feedback_lock_ms)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (hub) DO UPDATE SET default_ttl_ms = $2, max_delivery_count = $3, feedback_ttl_ms = $4, feedback_max_delivery_count = $5, feedback_lock_ms = $6`,
      [hub, s.defaultTtlMs, s.maxDeliveryCount, s.feedbackTtlMs, s.feedbackMaxDeliveryCount, s.feedbackLockMs],
    );
  }

  /**
   * Enqueue in one autocommit statement: rows of an earlier generation of the identity are dropped,
   * and the message takes the lowest free slot 0..49 of its queue. The unique (queue, slot) index
   * makes a 51st message impossible even for concurrent sends; a send that lost a slot to another
   * (or to a stale row this statement is deleting) tries again. With `lock`, a message that is the
   * only one in its queue is stored locked under that token and returned as `locked`.
   */
  async enqueue(
    key: QueueKey,
    generationId: string,
    msg: OutgoingMessage,
    defaultTtlMs: number,
    lock?: { token: string; lockMs: number },
  ): Promise<{ sequenceNumber: number; locked?: LockedMessage }> {
    const e: Enqueue = { key, generationId, msg, defaultTtlMs, lock };
    // sends made together (a gateway's SendBatch) go as one statement; a slot lost to a concurrent
    // send, or a second message for a queue already in that statement, goes again alone
    let r = await this.#enqueues.call(e);
    for (let attempt = 0; r.seq === null && !r.full && attempt < 20; attempt++) r = (await this.#enqueueMany([e]))[0]!;
    if (r.seq !== null) {
      const sequenceNumber = Number(r.seq);
      if (!r.locked || !lock) return { sequenceNumber };
      return { sequenceNumber, locked: { ...msg, expiryTime: r.expiresAt!, enqueuedTime: r.enqueuedAt!, sequenceNumber, deliveryCount: 1, lockToken: lock.token } };
    }
    if (r.full) throw queueFull(key);
    throw new DomainError('ServiceUnavailable', 'The queue is too busy to take the message; try again.');
  }

  async #enqueueMany(items: Enqueue[]): Promise<Enqueued[]> {
    // one message per queue in the statement: they would all see the same free slot
    const queues = new Set<string>();
    const batch: number[] = [];
    items.forEach((e, i) => {
      const q = JSON.stringify([e.key.hub, e.key.deviceId, e.key.moduleId]);
      if (queues.has(q)) return;
      queues.add(q);
      batch.push(i);
    });
    const col = <T>(f: (e: Enqueue) => T) => batch.map((i) => f(items[i]!));
    const r = await this.#pool.query<{ i: number; slot: number | null; seq: string | null; enqueued_at: Date | null; expires_at: Date | null; locked: boolean }>({
      ...ENQUEUE,
      values: [
        batch,
        col((e) => e.key.hub),
        col((e) => e.key.deviceId),
        col((e) => e.key.moduleId),
        col((e) => e.generationId),
        col((e) => e.msg.inputName),
        col((e) => e.msg.messageId),
        col((e) => e.msg.correlationId),
        col((e) => e.msg.userId),
        col((e) => e.msg.ack),
        col((e) => e.msg.contentType),
        col((e) => e.msg.contentEncoding),
        col((e) => JSON.stringify(e.msg.properties)),
        col((e) => e.msg.body),
        col((e) => e.msg.expiryTime ?? null),
        col((e) => e.defaultTtlMs),
        col((e) => e.lock?.token ?? null),
        col((e) => e.lock?.lockMs ?? null),
      ],
    });
    const out: Enqueued[] = items.map(() => ({ seq: null, full: false, locked: false }));
    for (const row of r.rows) out[row.i] = { seq: row.seq, full: row.slot === null, locked: row.locked, enqueuedAt: row.enqueued_at ?? undefined, expiresAt: row.expires_at ?? undefined };
    return out;
  }

  /**
   * Lock the head of the queue in one statement when it is deliverable (the common case);
   * otherwise (empty queue, or an expired or exhausted head to dead-letter) take the slow path.
   */
  async lockNext(key: QueueKey, generationId: string, lockToken: string, lockMs: number, maxDeliveryCount: number): Promise<LockedMessage | undefined> {
    const fast = await this.#locks.call({ key, generationId, lockToken, lockMs, maxDeliveryCount });
    if (fast.row) return toLocked(fast.row);
    const any = await this.#pool.query({ ...ANY_MESSAGE, values: queueParams(key) });
    if (any.rowCount === 0) return undefined;
    return this.#lockNextSlow(key, generationId, lockToken, lockMs, maxDeliveryCount);
  }

  // receives made together (a gateway's ReceiveBatch; each holds its queue's Redis lock, so the
  // queues differ) go to Postgres as one statement
  async #lockHeads(items: LockRequest[]): Promise<Array<{ row: C2DRow | undefined }>> {
    const col = <T>(f: (i: LockRequest) => T) => items.map(f);
    const r = await this.#pool.query<C2DRow>({
      ...LOCK_HEADS,
      values: [col((i) => i.key.hub), col((i) => i.key.deviceId), col((i) => i.key.moduleId), col((i) => i.generationId), col((i) => i.lockToken), col((i) => i.lockMs), col((i) => i.maxDeliveryCount)],
    });
    const byToken = new Map(r.rows.map((row) => [row.lock_token, row]));
    return items.map((i) => ({ row: byToken.get(i.lockToken.toLowerCase()) }));
  }

  /**
   * Lock the oldest message of the queue for `lockMs` under `lockToken`. The caller holds the
   * queue's Redis lock, so any lock recorded on a row is stale (its delivery's lock expired).
   * On the way, expired messages and those delivered `maxDeliveryCount` times are dead-lettered.
   */
  async #lockNextSlow(key: QueueKey, generationId: string, lockToken: string, lockMs: number, maxDeliveryCount: number): Promise<LockedMessage | undefined> {
    return withTransaction(this.#pool, async (c) => {
      if (generationId) await c.query(`DELETE FROM messaging.c2d WHERE ${QUEUE} AND generation_id <> $4`, [...queueParams(key), generationId]);
      for (;;) {
        const r = await c.query<C2DRow>(`SELECT *, expires_at <= now() AS expired FROM messaging.c2d WHERE ${QUEUE} ORDER BY seq LIMIT 1 FOR UPDATE`, queueParams(key));
        const row = r.rows[0];
        if (!row) return undefined;
        const deadLetter: FeedbackStatus | undefined = row.expired ? 'Expired' : row.delivery_count >= maxDeliveryCount ? 'DeliveryCountExceeded' : undefined;
        if (deadLetter) {
          await this.#remove(c, key, row, deadLetter);
          continue;
        }
        const u = await c.query<C2DRow>(
          `UPDATE messaging.c2d SET delivery_count = delivery_count + 1, lock_token = $5, locked_until = now() + $6 * interval '1 millisecond'
           WHERE ${QUEUE} AND seq = $4 RETURNING *, false AS expired`,
          [...queueParams(key), row.seq, lockToken, lockMs],
        );
        return toLocked(u.rows[0]!);
      }
    });
  }

  /**
   * Complete (→ Success) or reject (→ Rejected) the message locked by `lockToken`, writing the
   * feedback record its ack mode asks for, in one statement. Resolves the number of messages left
   * in the queue, or undefined when that lock is gone.
   */
  remove(key: QueueKey, lockToken: string, status: 'Success' | 'Rejected'): Promise<number | undefined> {
    return this.#removals.call({ key, lockToken, status }).then((r) => r.remaining);
  }

  // settlements made together (a gateway's SettleBatch) go to Postgres as one statement
  async #removeMany(items: Removal[]): Promise<Array<{ remaining: number | undefined }>> {
    const col = (f: (i: Removal) => string) => items.map(f);
    const r = await this.#pool.query<{ token: string; remaining: string }>({
      ...REMOVE_LOCKED,
      values: [
        col((i) => i.key.hub),
        col((i) => i.key.deviceId),
        col((i) => i.key.moduleId),
        col((i) => i.lockToken),
        col((i) => i.status),
        // the ack modes that ask for this outcome, by the one rule every other outcome uses
        col((i) => ACK_MODES.filter((a) => wantsFeedback(a, i.status)).join(',')),
      ],
    });
    const left = new Map(r.rows.map((row) => [row.token, Number(row.remaining)]));
    // a lock settles once: the same token twice in a batch finds it gone the second time
    return items.map((i) => {
      const token = i.lockToken.toLowerCase();
      const remaining = left.get(token);
      left.delete(token);
      return { remaining };
    });
  }

  /** Put the message locked by `lockToken` back; false when that lock is gone. */
  async unlock(key: QueueKey, lockToken: string): Promise<boolean> {
    const r = await this.#pool.query(`UPDATE messaging.c2d SET lock_token = NULL, locked_until = NULL WHERE ${QUEUE} AND lock_token = $4 AND locked_until > now()`, [...queueParams(key), lockToken]);
    return (r.rowCount ?? 0) > 0;
  }

  /** Delete every message of the queue. */
  async purge(key: QueueKey): Promise<number> {
    return withTransaction(this.#pool, async (c) => {
      const r = await c.query<C2DRow>(`DELETE FROM messaging.c2d WHERE ${QUEUE} RETURNING *`, queueParams(key));
      for (const row of r.rows) await this.#feedback(c, key, row, 'Purged');
      return r.rows.length;
    });
  }

  async count(key: QueueKey): Promise<number> {
    const r = await this.#pool.query<{ n: string }>(`SELECT count(*) AS n FROM messaging.c2d WHERE ${QUEUE}`, queueParams(key));
    return Number(r.rows[0]!.n);
  }

  /** Dead-letter up to `limit` expired, unlocked messages of any queue (any number of replicas may sweep). */
  async sweepExpired(limit: number): Promise<QueueKey[]> {
    return withTransaction(this.#pool, async (c) => {
      const r = await c.query<C2DRow & { hub: string; device_id: string; module_id: string }>(
        `DELETE FROM messaging.c2d WHERE (hub, device_id, module_id, seq) IN (
           SELECT hub, device_id, module_id, seq FROM messaging.c2d
           WHERE expires_at <= now() AND (locked_until IS NULL OR locked_until <= now())
           ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING *`,
        [limit],
      );
      const keys: QueueKey[] = [];
      for (const row of r.rows) {
        const key = { hub: row.hub, deviceId: row.device_id, moduleId: row.module_id };
        await this.#feedback(c, key, row, 'Expired');
        keys.push(key);
      }
      await c.query(`DELETE FROM messaging.feedback WHERE (hub, seq) IN (SELECT hub, seq FROM messaging.feedback WHERE expires_at <= now() LIMIT $1 FOR UPDATE SKIP LOCKED)`, [limit]);
      return keys;
    });
  }

  async #remove(c: PoolClient, key: QueueKey, row: C2DRow, status: FeedbackStatus): Promise<void> {
    await c.query(`DELETE FROM messaging.c2d WHERE ${QUEUE} AND seq = $4`, [...queueParams(key), row.seq]);
    await this.#feedback(c, key, row, status);
  }

  async #feedback(c: PoolClient, key: QueueKey, row: Pick<C2DRow, 'ack' | 'message_id' | 'generation_id'>, status: FeedbackStatus): Promise<void> {
    if (!wantsFeedback(row.ack, status)) return;
    const record: FeedbackRecord = {
      originalMessageId: row.message_id,
      description: status,
      statusCode: status,
      deviceGenerationId: row.generation_id,
      deviceId: key.deviceId,
      enqueuedTimeUtc: new Date().toISOString(),
    };
    await c.query('INSERT INTO messaging.feedback_records (hub, record) VALUES ($1, $2)', [key.hub, JSON.stringify(record)]);
  }

  /**
   * Batch waiting feedback records into feedback messages ("batched into a single message
   * whenever possible"): records join the hub's newest feedback message that no one has received
   * yet, up to `maxPerMessage`, then new messages. Returns the hubs whose feedback grew.
   */
  async batchFeedback(maxRecords: number, maxPerMessage: number): Promise<string[]> {
    return withTransaction(this.#pool, async (c) => {
      const r = await c.query<{ hub: string; record: FeedbackRecord }>(
        `DELETE FROM messaging.feedback_records WHERE id IN (SELECT id FROM messaging.feedback_records ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING hub, record, id`,
        [maxRecords],
      );
      const byHub = new Map<string, FeedbackRecord[]>();
      for (const row of r.rows) {
        const list = byHub.get(row.hub) ?? [];
        list.push(row.record);
        byHub.set(row.hub, list);
      }
      for (const [hub, records] of byHub) {
        const ttl = (await this.#settingsIn(c, hub)).feedbackTtlMs;
        records.sort((a, b) => a.enqueuedTimeUtc.localeCompare(b.enqueuedTimeUtc));
        // top up the newest feedback message no one has received yet, then open new ones
        const open = await c.query<{ seq: string; n: number }>(
          `SELECT seq, jsonb_array_length(body) AS n FROM messaging.feedback
           WHERE hub = $1 AND queue = 'feedback' AND delivery_count = 0 AND lock_token IS NULL AND expires_at > now()
           ORDER BY seq DESC LIMIT 1 FOR UPDATE SKIP LOCKED`,
          [hub],
        );
        let rest = records;
        const target = open.rows[0];
        if (target && target.n < maxPerMessage) {
          const room = maxPerMessage - target.n;
          await c.query('UPDATE messaging.feedback SET body = body || $3::jsonb WHERE hub = $1 AND seq = $2', [hub, target.seq, JSON.stringify(rest.slice(0, room))]);
          rest = rest.slice(room);
        }
        for (let i = 0; i < rest.length; i += maxPerMessage) {
          await c.query(
            `INSERT INTO messaging.feedback (hub, message_id, body, enqueued_at, expires_at) VALUES ($1, $2, $3, now(), now() + $4 * interval '1 millisecond')`,
            [hub, randomUUID(), JSON.stringify(rest.slice(i, i + maxPerMessage)), ttl],
          );
        }
      }
      return [...byHub.keys()];
    });
  }

  async #settingsIn(c: PoolClient, hub: string): Promise<C2DSettings> {
    const r = await c.query<{ feedback_ttl_ms: string }>('SELECT feedback_ttl_ms FROM messaging.settings WHERE hub = $1', [hub]);
    return r.rows[0] ? { ...DEFAULT_SETTINGS, feedbackTtlMs: Number(r.rows[0].feedback_ttl_ms) } : DEFAULT_SETTINGS;
  }

  /**
   * Lock the oldest message of a hub's service-bound queue (feedback, or file notifications) that
   * no one holds; those delivered `maxDeliveryCount` times already are dropped.
   */
  async lockFeedback(hub: string, lockToken: string, limits: { lockMs: number; maxDeliveryCount: number }, queue: ServiceQueue = 'feedback'): Promise<LockedFeedback | undefined> {
    return withTransaction(this.#pool, async (c) => {
      for (;;) {
        const r = await c.query<FeedbackRow>(
          `SELECT * FROM messaging.feedback WHERE hub = $1 AND queue = $2 AND expires_at > now() AND (locked_until IS NULL OR locked_until <= now())
           ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED`,
          [hub, queue],
        );
        const row = r.rows[0];
        if (!row) return undefined;
        if (row.delivery_count >= limits.maxDeliveryCount) {
          await c.query('DELETE FROM messaging.feedback WHERE hub = $1 AND seq = $2', [hub, row.seq]);
          continue;
        }
        await c.query(
          `UPDATE messaging.feedback SET delivery_count = delivery_count + 1, lock_token = $3, locked_until = now() + $4 * interval '1 millisecond' WHERE hub = $1 AND seq = $2`,
          [hub, row.seq, lockToken, limits.lockMs],
        );
        return { messageId: row.message_id, body: row.body, enqueuedTime: row.enqueued_at, expiryTime: row.expires_at, deliveryCount: row.delivery_count + 1, lockToken };
      }
    });
  }

  /** Queue one file-upload notification (its own message, kept `ttlMs`). */
  async enqueueFileNotification(hub: string, notification: unknown, ttlMs: number): Promise<void> {
    await this.#pool.query(
      `INSERT INTO messaging.feedback (hub, queue, message_id, body, enqueued_at, expires_at) VALUES ($1, 'file', $2, $3, now(), now() + $4 * interval '1 millisecond')`,
      [hub, randomUUID(), JSON.stringify(notification), ttlMs],
    );
  }

  /** Complete (delete) or abandon (unlock) a locked service-bound message; false when the lock is gone. */
  async settleFeedback(hub: string, lockToken: string, complete: boolean, queue: ServiceQueue = 'feedback'): Promise<boolean> {
    const r = complete
      ? await this.#pool.query('DELETE FROM messaging.feedback WHERE hub = $1 AND queue = $3 AND lock_token = $2 AND locked_until > now()', [hub, lockToken, queue])
      : await this.#pool.query('UPDATE messaging.feedback SET lock_token = NULL, locked_until = NULL WHERE hub = $1 AND queue = $3 AND lock_token = $2 AND locked_until > now()', [hub, lockToken, queue]);
    return (r.rowCount ?? 0) > 0;
  }
}
