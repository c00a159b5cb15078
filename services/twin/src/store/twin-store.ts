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
      const s = toState(r.rows[0] as Row);
      const events = fn(s);
      if (events === undefined) return s;
      // the update and its events in one statement: one round trip fewer per write
      const first = events[0];
      await c.query(
        `WITH u AS (
           UPDATE twin.twins SET model_id = $4, tags = $5, desired = $6, desired_meta = $7, desired_version = $8, reported = $9,
                  reported_meta = $10, reported_version = $11, version = $12, etag_version = $13
            WHERE hub = $1 AND device_id = $2 AND module_id = $3 RETURNING 1)
         INSERT INTO twin.outbox (event_id, subject, headers, body)
         SELECT gen_random_uuid(), $14, $15, $16 FROM u WHERE $14::text IS NOT NULL`,
        [ref.hub, ref.deviceId, ref.moduleId, s.modelId, JSON.stringify(s.tags), JSON.stringify(s.desired), JSON.stringify(s.desiredMeta), s.desiredVersion,
          JSON.stringify(s.reported), JSON.stringify(s.reportedMeta), s.reportedVersion, s.version, s.etagVersion,
          first?.subject ?? null, first ? JSON.stringify(first.headers) : null, first?.body ?? null],
      );
      for (const e of events.slice(1)) await writeOutbox(c, 'twin', e);
      wroteEvents = events.length > 0;
      return s;
    });
    if (wroteEvents) this.#onEvents();
    return state;
  }
}
