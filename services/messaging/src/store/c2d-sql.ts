import type { LockedMessage, OutgoingMessage, QueueKey } from '../domain/types.js';

// The C2D queues' hot statements, the items they take and the row they return (the store is c2d-store.ts).

/** IoT Hub: at most 50 messages waiting per device queue (devguide §7.2). */
export const MAX_QUEUE_DEPTH = 50;

export interface C2DRow {
  seq: string;
  generation_id: string;
  input_name: string;
  message_id: string;
  correlation_id: string;
  user_id: string;
  ack: string;
  content_type: string;
  content_encoding: string;
  properties: Record<string, string>;
  body: Buffer;
  enqueued_at: Date;
  expires_at: Date;
  delivery_count: number;
  lock_token: string | null;
  expired: boolean;
}

// The items of the batched statements (one per send, receive or settlement in a batch).

/** A send: a message for a queue of the identity's current generation. */
export interface Enqueue {
  readonly key: QueueKey;
  readonly generationId: string;
  readonly msg: OutgoingMessage;
  readonly defaultTtlMs: number;
  /** Lock the message for the caller when it is the only one in its queue (the caller holds the queue's Redis lock under this token). */
  readonly lock?: { readonly token: string; readonly lockMs: number } | undefined;
}

/** What one enqueue item did: `seq` null = not inserted (`full`, or try again). */
export interface Enqueued {
  readonly seq: string | null;
  readonly full: boolean;
  readonly locked: boolean;
  readonly enqueuedAt?: Date;
  readonly expiresAt?: Date;
}

/** A receive's lock of the head of its queue. */
export interface LockRequest {
  readonly key: QueueKey;
  readonly generationId: string;
  readonly lockToken: string;
  readonly lockMs: number;
  readonly maxDeliveryCount: number;
}

/** A complete or reject of a locked message. */
export interface Removal {
  readonly key: QueueKey;
  readonly lockToken: string;
  readonly status: 'Success' | 'Rejected';
}

export const QUEUE = 'hub = $1 AND device_id = $2 AND module_id = $3';

export const queueParams = (k: QueueKey) => [k.hub, k.deviceId, k.moduleId];

// The hot statements are named, so each pool connection parses and plans them once: with the
// planning gone bench:c2d went from 0.17–0.19 to 0.21 × its raw-SQL baseline.

/**
 * Enqueue messages for one or many queues in one autocommit statement (one message per queue; $1
 * the items' indexes, then one array per column): rows of an earlier generation of each identity
 * are dropped, and each message takes the lowest free slot 0..49 of its queue — the unique
 * (queue, slot) index makes a 51st message impossible even for concurrent sends. One row per item:
 * `slot` null = the queue is full; `seq` null with a slot = it lost that slot to another send (or
 * to a stale row this statement is deleting): try again. An item with a lock token ($17, with its
 * lock ms in $18; the caller holds the queue's Redis lock under it) is inserted locked — its first
 * delivery counted — when it is the queue's only message and not already expired; `locked` says so.
 */
export const ENQUEUE = {
  name: 'c2d-enqueue',
  text: `WITH k AS MATERIALIZED (
              SELECT u.*, COALESCE(u.expiry, now() + u.ttl_ms * interval '1 millisecond') AS expires_at
              FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bytea[], $15::timestamptz[], $16::bigint[], $17::uuid[], $18::int[])
                AS u(i, hub, device_id, module_id, generation_id, input_name, message_id, correlation_id, user_id, ack, content_type, content_encoding, properties, body, expiry, ttl_ms, token, lock_ms)),
            stale AS (DELETE FROM messaging.c2d c USING k WHERE c.hub = k.hub AND c.device_id = k.device_id AND c.module_id = k.module_id AND c.generation_id <> k.generation_id),
            free AS MATERIALIZED (
              SELECT k.i, (SELECT s FROM generate_series(0, ${MAX_QUEUE_DEPTH - 1}) s
                           WHERE s NOT IN (SELECT slot FROM messaging.c2d c WHERE c.hub = k.hub AND c.device_id = k.device_id AND c.module_id = k.module_id AND c.generation_id = k.generation_id)
                           ORDER BY s LIMIT 1) AS slot,
                     k.token IS NOT NULL AND k.expires_at > now()
                       AND NOT EXISTS (SELECT 1 FROM messaging.c2d c WHERE c.hub = k.hub AND c.device_id = k.device_id AND c.module_id = k.module_id AND c.generation_id = k.generation_id) AS lock_it
              FROM k),
            ins AS (
              INSERT INTO messaging.c2d (hub, device_id, module_id, slot, generation_id, input_name, message_id, correlation_id, user_id, ack, content_type, content_encoding, properties, body, enqueued_at, expires_at,
                                         delivery_count, lock_token, locked_until)
              SELECT k.hub, k.device_id, k.module_id, free.slot, k.generation_id, k.input_name, k.message_id, k.correlation_id, k.user_id, k.ack, k.content_type, k.content_encoding, k.properties::jsonb, k.body,
                     now(), k.expires_at,
                     CASE WHEN free.lock_it THEN 1 ELSE 0 END, CASE WHEN free.lock_it THEN k.token END, CASE WHEN free.lock_it THEN now() + k.lock_ms * interval '1 millisecond' END
              FROM k JOIN free USING (i) WHERE free.slot IS NOT NULL
              ON CONFLICT (hub, device_id, module_id, slot) DO NOTHING
              RETURNING hub, device_id, module_id, slot, seq, enqueued_at, expires_at, lock_token IS NOT NULL AS locked)
         SELECT free.i, free.slot, ins.seq, ins.enqueued_at, ins.expires_at, COALESCE(ins.locked, false) AS locked
         FROM free JOIN k USING (i) LEFT JOIN ins ON ins.hub = k.hub AND ins.device_id = k.device_id AND ins.module_id = k.module_id AND ins.slot = free.slot`,
};

/**
 * Lock the head of many queues in one statement, each under its own token, when it is
 * deliverable: $1-$3 queues, $4 generations ('' = any), $5 tokens, $6 lock ms, $7 max deliveries.
 * The heads are chosen once (a materialized CTE), so the update never moves on to a second row
 * of a queue. One row per queue locked.
 */
export const LOCK_HEADS = {
  name: 'c2d-lock-heads',
  text: `WITH k AS MATERIALIZED (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::int[], $7::int[]) AS k(hub, device_id, module_id, generation_id, token, lock_ms, max_deliveries)),
            head AS MATERIALIZED (SELECT k.*, (SELECT seq FROM messaging.c2d c WHERE c.hub = k.hub AND c.device_id = k.device_id AND c.module_id = k.module_id
                                                 AND (k.generation_id = '' OR c.generation_id = k.generation_id) ORDER BY seq LIMIT 1 FOR UPDATE) AS head_seq FROM k)
       UPDATE messaging.c2d c SET delivery_count = c.delivery_count + 1, lock_token = head.token, locked_until = now() + head.lock_ms * interval '1 millisecond'
       FROM head
       WHERE c.hub = head.hub AND c.device_id = head.device_id AND c.module_id = head.module_id AND c.seq = head.head_seq
         AND c.expires_at > now() AND c.delivery_count < head.max_deliveries
       RETURNING c.*, false AS expired`,
};

export const ANY_MESSAGE = { name: 'c2d-any', text: `SELECT 1 FROM messaging.c2d WHERE ${QUEUE} LIMIT 1` };

/**
 * Settlements of many queues in one statement (each its own lock): $1-$3 queues, $4 tokens, $5
 * feedback statuses, $6 the ack modes that want that feedback (comma-separated). One row per
 * settlement that held its lock, with the messages left in its queue (the count sees the queue
 * before the delete).
 */
export const REMOVE_LOCKED = {
  name: 'c2d-remove-many',
  text: `WITH k AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::text[]) AS k(hub, device_id, module_id, token, status, acks)),
            gone AS (DELETE FROM messaging.c2d c USING k
                     WHERE c.lock_token = k.token AND c.hub = k.hub AND c.device_id = k.device_id AND c.module_id = k.module_id AND c.locked_until > now()
                     RETURNING c.hub, c.device_id, c.module_id, c.lock_token, c.message_id, c.generation_id, c.ack, k.status, k.acks),
            fb AS (INSERT INTO messaging.feedback_records (hub, record)
                   SELECT hub, jsonb_build_object('originalMessageId', message_id, 'description', status, 'statusCode', status, 'deviceGenerationId', generation_id,
                                                  'deviceId', device_id, 'enqueuedTimeUtc', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
                   FROM gone WHERE ack = ANY(string_to_array(acks, ',')))
       SELECT g.lock_token::text AS token,
              (SELECT count(*) FROM messaging.c2d c WHERE c.hub = g.hub AND c.device_id = g.device_id AND c.module_id = g.module_id) - 1 AS remaining
       FROM gone g`,
};

export function toLocked(r: C2DRow): LockedMessage {
  return {
    body: r.body,
    messageId: r.message_id,
    correlationId: r.correlation_id,
    userId: r.user_id,
    ack: r.ack as LockedMessage['ack'],
    contentType: r.content_type,
    contentEncoding: r.content_encoding,
    properties: r.properties,
    inputName: r.input_name,
    expiryTime: r.expires_at,
    enqueuedTime: r.enqueued_at,
    sequenceNumber: Number(r.seq),
    deliveryCount: r.delivery_count,
    lockToken: r.lock_token ?? '',
  };
}
