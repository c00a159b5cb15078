import { withTransaction, type OutboxEvent, type Pool, type PoolClient } from '@openiothub/postgres';
import type { JsonObject } from '../domain/limits.js';
import type { Metadata } from '../domain/merge.js';
import { newTwin, type TwinState } from '../domain/twin.js';

/** Which twin, and the identity generation it must belong to. */
export interface TwinRef {
  readonly hub: string;
  readonly deviceId: string;
  readonly moduleId: string;
  readonly generationId: string;
}

/** Mutates the state; returns the events to publish, or undefined when nothing changed. */
export type TwinMutation = (state: TwinState) => OutboxEvent[] | undefined;

interface Pending {
  readonly ref: TwinRef;
  readonly key: string;
  readonly at: string;
  readonly fn: TwinMutation;
  resolve(state: TwinState): void;
  reject(err: unknown): void;
}

type Row = Record<string, unknown>;

const keyOf = (r: { hub: string; deviceId: string; moduleId: string }) => `${r.hub}\n${r.deviceId}\n${r.moduleId}`;

/** A twin row (`twin.twins`, as selected by the store and the query engine) as state. */
export function toState(r: Row): TwinState {
  return {
    tags: r['tags'] as JsonObject,
    desired: r['desired'] as JsonObject,
    desiredMeta: r['desired_meta'] as Metadata,
    desiredVersion: Number(r['desired_version']),
    reported: r['reported'] as JsonObject,
    reportedMeta: r['reported_meta'] as Metadata,
    reportedVersion: Number(r['reported_version']),
    version: Number(r['version']),
    etagVersion: Number(r['etag_version']),
    modelId: r['model_id'] as string,
    configurations: r['configurations'] as TwinState['configurations'],
    configPaths: (r['config_paths'] as TwinState['configPaths'] | undefined) ?? {},
  };
}

/**
 * Twins in Postgres (schema `twin`). Writes that arrive together are applied together: one
 * transaction locks every twin of a batch, applies each write in arrival order (a write that
 * throws is undone and fails alone), updates the changed rows in one statement and writes their
 * events in another. A twin row is created on first use for its identity generation and reset when
 * the generation differs (the device was deleted and re-created). Batches running at the same
 * time never share a twin, so they cannot wait on each other's locks.
 */
export class TwinStore {
  readonly #pool: Pool;
  readonly #onEvents: () => void;
  readonly #maxBatch: number;
  readonly #maxConcurrent: number;
  readonly #queue: Pending[] = [];
  readonly #busy = new Set<string>();
  #running = 0;

  constructor(pool: Pool, onEvents: () => void, opts: { maxBatch?: number; maxConcurrent?: number } = {}) {
    this.#pool = pool;
    this.#onEvents = onEvents;
    this.#maxBatch = opts.maxBatch ?? 64;
    this.#maxConcurrent = opts.maxConcurrent ?? 4;
  }

  /** Read (creating or resetting as needed). */
  read(ref: TwinRef, at: string): Promise<TwinState> {
    return this.modify(ref, at, () => undefined);
  }

  /** Row-locked read-modify-write of one twin; a throw from `fn` leaves the twin as it was. */
  modify(ref: TwinRef, at: string, fn: TwinMutation): Promise<TwinState> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ ref, key: keyOf(ref), at, fn, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#running < this.#maxConcurrent && this.#queue.length > 0) {
      const batch: Pending[] = [];
      const keys = new Set<string>();
      for (let i = 0; i < this.#queue.length && batch.length < this.#maxBatch; ) {
        const op = this.#queue[i]!;
        if (this.#busy.has(op.key)) {
          i++; // its twin is in a running batch: wait for the next one (keeps per-twin order)
          continue;
        }
        batch.push(op);
        keys.add(op.key);
        this.#queue.splice(i, 1);
        // later writes to a twin already in this batch still come after it (same batch, in order)
      }
      if (batch.length === 0) return;
      for (const k of keys) this.#busy.add(k);
      this.#running++;
      void this.#run(batch).finally(() => {
        for (const k of keys) this.#busy.delete(k);
        this.#running--;
        this.#pump();
      });
    }
  }

  async #run(batch: Pending[]): Promise<void> {
    const outcomes = new Map<Pending, { ok: true; state: TwinState } | { ok: false; err: unknown }>();
    let wroteEvents = false;
    try {
      await withTransaction(this.#pool, async (c) => {
        const states = await this.#lockAll(c, batch);
        const dirty = new Set<string>();
        const events: OutboxEvent[] = [];
        for (const op of batch) {
          const state = states.get(op.key)!;
          const before = structuredClone(state);
          try {
            const produced = op.fn(state);
            if (produced !== undefined) {
              dirty.add(op.key);
              events.push(...produced);
            }
            outcomes.set(op, { ok: true, state: structuredClone(state) });
          } catch (err) {
            states.set(op.key, before); // undo this write only
            outcomes.set(op, { ok: false, err });
          }
        }
        await this.#writeRows(c, batch, states, dirty);
        if (events.length > 0) {
          await c.query({
            name: 'twin-outbox-insert',
            text: `INSERT INTO twin.outbox (event_id, subject, headers, body)
                   SELECT gen_random_uuid(), s, h, b FROM unnest($1::text[], $2::jsonb[], $3::bytea[]) AS e(s, h, b)`,
            values: [events.map((e) => e.subject), events.map((e) => JSON.stringify(e.headers)), events.map((e) => e.body)],
          });
          wroteEvents = true;
        }
      });
    } catch (err) {
      for (const op of batch) op.reject(err);
      return;
    }
    if (wroteEvents) this.#onEvents();
    for (const op of batch) {
      const o = outcomes.get(op)!;
      if (o.ok) op.resolve(o.state);
      else op.reject(o.err);
    }
  }

  /** Lock every twin of the batch (creating or resetting rows for a new generation first). */
  async #lockAll(c: PoolClient, batch: Pending[]): Promise<Map<string, TwinState>> {
    const refs = new Map<string, TwinRef>();
    for (const op of batch) refs.set(op.key, op.ref);
    const select = (list: TwinRef[]) =>
      c.query({
        name: 'twin-lock-batch',
        text: `SELECT t.* FROM twin.twins t JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(hub, device_id, module_id)
                 ON t.hub = k.hub AND t.device_id = k.device_id AND t.module_id = k.module_id
               ORDER BY t.hub, t.device_id, t.module_id FOR UPDATE OF t`,
        values: [list.map((r) => r.hub), list.map((r) => r.deviceId), list.map((r) => r.moduleId)],
      });
    const rows = new Map<string, Row>();
    for (const r of (await select([...refs.values()])).rows as Row[]) rows.set(keyOf({ hub: r['hub'] as string, deviceId: r['device_id'] as string, moduleId: r['module_id'] as string }), r);
    // first use, or a new generation of the identity: start from a fresh twin (the common case skips this)
    const stale = [...refs.entries()].filter(([k, ref]) => rows.get(k)?.['generation_id'] !== ref.generationId).map(([, ref]) => ref);
    if (stale.length > 0) {
      const at = batch[0]!.at;
      const meta = JSON.stringify(newTwin(at).desiredMeta);
      for (const ref of stale) {
        await c.query(
          `INSERT INTO twin.twins (hub, device_id, module_id, generation_id, tags, desired, desired_meta, desired_version,
                                   reported, reported_meta, reported_version, version, etag_version)
           VALUES ($1, $2, $3, $4, '{}', '{}', $5, 1, '{}', $5, 1, 1, 1)
           ON CONFLICT (hub, device_id, module_id) DO UPDATE
             SET generation_id = EXCLUDED.generation_id, model_id = '', tags = '{}', desired = '{}', desired_meta = EXCLUDED.desired_meta,
                 desired_version = 1, reported = '{}', reported_meta = EXCLUDED.reported_meta, reported_version = 1, version = 1, etag_version = 1,
                 configurations = '{}', config_paths = '{}'
             WHERE twin.twins.generation_id <> EXCLUDED.generation_id`,
          [ref.hub, ref.deviceId, ref.moduleId, ref.generationId, meta],
        );
      }
      for (const r of (await select(stale)).rows as Row[]) rows.set(keyOf({ hub: r['hub'] as string, deviceId: r['device_id'] as string, moduleId: r['module_id'] as string }), r);
    }
    return new Map([...refs.keys()].map((k) => [k, toState(rows.get(k)!)]));
  }

  async #writeRows(c: PoolClient, batch: Pending[], states: Map<string, TwinState>, dirty: Set<string>): Promise<void> {
    if (dirty.size === 0) return;
    const refs = new Map(batch.map((op) => [op.key, op.ref]));
    const keys = [...dirty];
    const col = <T>(f: (s: TwinState, r: TwinRef) => T) => keys.map((k) => f(states.get(k)!, refs.get(k)!));
    // named: prepared once per connection, like the lock and outbox statements of a batch
    await c.query({
      name: 'twin-write-batch',
      text: `UPDATE twin.twins t SET model_id = v.model_id, tags = v.tags, desired = v.desired, desired_meta = v.desired_meta,
              desired_version = v.desired_version, reported = v.reported, reported_meta = v.reported_meta,
              reported_version = v.reported_version, version = v.version, etag_version = v.etag_version,
              configurations = v.configurations, config_paths = v.config_paths
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[], $7::jsonb[], $8::bigint[],
                     $9::jsonb[], $10::jsonb[], $11::bigint[], $12::bigint[], $13::bigint[], $14::jsonb[], $15::jsonb[])
           AS v(hub, device_id, module_id, model_id, tags, desired, desired_meta, desired_version, reported, reported_meta,
                reported_version, version, etag_version, configurations, config_paths)
        WHERE t.hub = v.hub AND t.device_id = v.device_id AND t.module_id = v.module_id`,
      values: [
        col((_s, r) => r.hub),
        col((_s, r) => r.deviceId),
        col((_s, r) => r.moduleId),
        col((s) => s.modelId),
        col((s) => JSON.stringify(s.tags)),
        col((s) => JSON.stringify(s.desired)),
        col((s) => JSON.stringify(s.desiredMeta)),
        col((s) => s.desiredVersion),
        col((s) => JSON.stringify(s.reported)),
        col((s) => JSON.stringify(s.reportedMeta)),
        col((s) => s.reportedVersion),
        col((s) => s.version),
        col((s) => s.etagVersion),
        col((s) => JSON.stringify(s.configurations)),
        col((s) => JSON.stringify(s.configPaths)),
      ],
    });
  }
}
