import { withTransaction, writeOutbox, type OutboxEvent, type Pool } from '@openiothub/postgres';
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

type Row = Record<string, unknown>;

function toState(r: Row): TwinState {
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
  };
}

/**
 * Twins in Postgres (schema `twin`). A twin row is created on first use for its identity
 * generation, and reset when the generation differs (the device was deleted and re-created).
 */
export class TwinStore {
  readonly #pool: Pool;
  readonly #onEvents: () => void;

  constructor(pool: Pool, onEvents: () => void) {
    this.#pool = pool;
    this.#onEvents = onEvents;
  }

  /** Read (creating or resetting as needed). */
  async read(ref: TwinRef, at: string): Promise<TwinState> {
    return this.modify(ref, at, () => undefined);
  }

  /**
   * Row-locked read-modify-write. `fn` mutates the state and returns the events to publish (or
   * undefined for none, in which case nothing is written unless the row had to be created).
   * A throw rolls everything back.
   */
  async modify(ref: TwinRef, at: string, fn: (state: TwinState) => OutboxEvent[] | undefined): Promise<TwinState> {
    let wroteEvents = false;
    const state = await withTransaction(this.#pool, async (c) => {
      const select = () => c.query(`SELECT * FROM twin.twins WHERE hub = $1 AND device_id = $2 AND module_id = $3 FOR UPDATE`, [ref.hub, ref.deviceId, ref.moduleId]);
      let r = await select();
      // first use, or a new generation of the identity: start from a fresh twin (the common case skips this)
      if (r.rows[0]?.['generation_id'] !== ref.generationId) {
        const fresh = newTwin(at);
        await c.query(
          `INSERT INTO twin.twins (hub, device_id, module_id, generation_id, tags, desired, desired_meta, desired_version,
                                   reported, reported_meta, reported_version, version, etag_version)
           VALUES ($1, $2, $3, $4, '{}', '{}', $5, 1, '{}', $5, 1, 1, 1)
           ON CONFLICT (hub, device_id, module_id) DO UPDATE
             SET generation_id = EXCLUDED.generation_id, model_id = '', tags = '{}', desired = '{}', desired_meta = EXCLUDED.desired_meta,
                 desired_version = 1, reported = '{}', reported_meta = EXCLUDED.reported_meta, reported_version = 1, version = 1, etag_version = 1
             WHERE twin.twins.generation_id <> EXCLUDED.generation_id`,
          [ref.hub, ref.deviceId, ref.moduleId, ref.generationId, JSON.stringify(fresh.desiredMeta)],
        );
        r = await select();
      }
      const row = r.rows[0] as Row;
      const s = toState(row);
      const before = { tags: JSON.stringify(s.tags), desired: JSON.stringify(s.desired), reported: JSON.stringify(s.reported) };
      const events = fn(s);
      if (events === undefined) return s;
      // write only what changed: a reported patch must not rewrite tags, desired and their metadata
      const params: unknown[] = [ref.hub, ref.deviceId, ref.moduleId, s.version, s.etagVersion, s.modelId];
      const sets = ['version = $4', 'etag_version = $5', 'model_id = $6'];
      const set = (column: string, value: unknown) => {
        params.push(value);
        sets.push(`${column} = $${params.length}`);
      };
      const tags = JSON.stringify(s.tags);
      if (tags !== before.tags) set('tags', tags);
      const desired = JSON.stringify(s.desired);
      if (desired !== before.desired || s.desiredVersion !== Number(row['desired_version'])) {
        set('desired', desired);
        set('desired_meta', JSON.stringify(s.desiredMeta));
        set('desired_version', s.desiredVersion);
      }
      const reported = JSON.stringify(s.reported);
      if (reported !== before.reported || s.reportedVersion !== Number(row['reported_version'])) {
        set('reported', reported);
        set('reported_meta', JSON.stringify(s.reportedMeta));
        set('reported_version', s.reportedVersion);
      }
      // the update and its first event in one statement: one round trip fewer per write
      const first = events[0];
      params.push(first?.subject ?? null, first ? JSON.stringify(first.headers) : null, first?.body ?? null);
      const n = params.length;
      await c.query(
        `WITH u AS (UPDATE twin.twins SET ${sets.join(', ')} WHERE hub = $1 AND device_id = $2 AND module_id = $3 RETURNING 1)
         INSERT INTO twin.outbox (event_id, subject, headers, body)
         SELECT gen_random_uuid(), $${n - 2}, $${n - 1}, $${n} FROM u WHERE $${n - 2}::text IS NOT NULL`,
        params,
      );
      for (const e of events.slice(1)) await writeOutbox(c, 'twin', e);
      wroteEvents = events.length > 0;
      return s;
    });
    if (wroteEvents) this.#onEvents();
    return state;
  }
}
