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
  /** Read from the database, not from what this process remembers (reads must see other processes' writes). */
  readonly fresh: boolean;
  /** What the caller gets: computed right after its own write, before later writes in the batch. */
  readonly view: (state: TwinState) => unknown;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/**
 * A twin as this process last wrote or read it: its state, and the row's revision and twin version
 * at that moment (the state is changed in place by a batch; `rev` and `version` stay what the row
 * had, for the write to check).
 */
interface Known {
  readonly state: TwinState;
  readonly rev: number;
  readonly version: number;
  readonly generationId: string;
}

type Row = Record<string, unknown>;
type Outcome = { ok: true; value: unknown } | { ok: false; err: unknown };

const keyOf = (r: { hub: string; deviceId: string; moduleId: string }) => `${r.hub}\n${r.deviceId}\n${r.moduleId}`;
const rowKey = (r: Row) => keyOf({ hub: r['hub'] as string, deviceId: r['device_id'] as string, moduleId: r['module_id'] as string });

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
 * Twins in Postgres (schema `twin`). Writes that arrive together are applied together, in arrival
 * order (a write that throws is undone and fails alone), and batches running at the same time
 * never share a twin.
 *
 * A batch writes optimistically: from the state this process remembers of each twin (or one
 * SELECT for those it does not), one statement updates every changed row whose revision is still
 * the one it started from and inserts the events of the rows it updated — a batch of writes is
 * one round trip to Postgres. A twin another process wrote in between is read again and its writes
 * applied again; a second miss takes the locked path (one transaction, `FOR UPDATE`). A twin row is
 * created on first use for its identity generation and reset when the generation differs (the
 * device was deleted and re-created). Reads always come from the database.
 */
export class TwinStore {
  readonly #pool: Pool;
  readonly #onEvents: () => void;
  readonly #maxBatch: number;
  readonly #maxConcurrent: number;
  readonly #maxKnown: number;
  readonly #optimisticAttempts: number;
  readonly #queue: Pending[] = [];
  readonly #busy = new Set<string>();
  /** Twins this process wrote or read lately, least recently used first. */
  readonly #known = new Map<string, Known>();
  #running = 0;

  /**
   * `maxKnown`: twins remembered (least recently used dropped first); `optimisticAttempts`: passes
   * without locks before a batch's leftovers take the locked path (0: always locked).
   */
  constructor(pool: Pool, onEvents: () => void, opts: { maxBatch?: number; maxConcurrent?: number; maxKnown?: number; optimisticAttempts?: number } = {}) {
    this.#pool = pool;
    this.#onEvents = onEvents;
    this.#maxBatch = opts.maxBatch ?? 64;
    this.#maxConcurrent = opts.maxConcurrent ?? 4;
    this.#maxKnown = opts.maxKnown ?? 50_000;
    this.#optimisticAttempts = opts.optimisticAttempts ?? 2;
  }

  /** Read from the database (creating or resetting as needed). */
  read(ref: TwinRef, at: string): Promise<TwinState> {
    return this.modify(ref, at, () => undefined, { fresh: true });
  }

  /**
   * Read-modify-write of one twin; a throw from `fn` leaves the twin as it was. `fn` may run more
   * than once (when another process wrote the twin in between): it must only change the state.
   * `fresh` starts from the database rather than from what this process remembers. Resolves
   * `view` of the state after this write (default: a copy of the whole state).
   */
  modify<T = TwinState>(ref: TwinRef, at: string, fn: TwinMutation, opts: { fresh?: boolean; view?: (state: TwinState) => T } = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ ref, key: keyOf(ref), at, fn, fresh: opts.fresh ?? false, view: opts.view ?? structuredClone, resolve: resolve as (v: unknown) => void, reject });
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
    let left = batch;
    try {
      for (let attempt = 0; attempt < this.#optimisticAttempts && left.length > 0; attempt++) left = await this.#runOptimistic(left, attempt > 0);
      if (left.length > 0) await this.#runLocked(left);
    } catch (err) {
      for (const op of left) {
        this.#known.delete(op.key);
        op.reject(err);
      }
    }
  }

  /** One pass without locks; resolves the operations of twins another process wrote meanwhile (to run again). */
  async #runOptimistic(batch: Pending[], fromDatabase: boolean): Promise<Pending[]> {
    const refs = refsOf(batch);
    const fresh = new Set(batch.filter((op) => fromDatabase || op.fresh).map((op) => op.key));
    const start = new Map<string, Known>();
    for (const [k, ref] of refs) {
      const known = fresh.has(k) ? undefined : this.#known.get(k);
      // taken out while the batch runs: a write that fails leaves it out
      if (known?.generationId === ref.generationId) start.set(k, known);
      this.#known.delete(k);
    }
    const missing = [...refs.entries()].filter(([k]) => !start.has(k)).map(([, r]) => r);
    if (missing.length > 0) for (const [k, v] of await this.#load(this.#pool, missing, batch[0]!.at, false)) start.set(k, v);
    const { outcomes, dirty, events } = applyAll(batch, start);
    const written = await this.#write(this.#pool, refs, start, dirty, events);
    const missed = new Set([...dirty].filter((k) => !written.has(k)));
    this.#rememberAll(start, written, missed);
    if (events.some((e) => !missed.has(e.key))) this.#onEvents();
    const again: Pending[] = [];
    for (const op of batch) {
      if (missed.has(op.key)) again.push(op);
      else settle(op, outcomes.get(op)!);
    }
    return again;
  }

  /** The locked path: one transaction holding every twin of the batch. */
  async #runLocked(batch: Pending[]): Promise<void> {
    const refs = refsOf(batch);
    const { start, outcomes, events, written } = await withTransaction(this.#pool, async (c) => {
      const start = await this.#load(c, [...refs.values()], batch[0]!.at, true);
      const applied = applyAll(batch, start);
      return { start, ...applied, written: await this.#write(c, refs, start, applied.dirty, applied.events) };
    });
    this.#rememberAll(start, written, new Set());
    if (events.length > 0) this.#onEvents();
    for (const op of batch) settle(op, outcomes.get(op)!);
  }

  /** Remember the batch's twins as it left them (a written row at its new revision), except those another process wrote (`missed`). */
  #rememberAll(start: Map<string, Known>, written: Map<string, number>, missed: Set<string>): void {
    for (const [key, known] of start) {
      if (missed.has(key)) continue;
      const rev = written.get(key);
      this.#known.delete(key);
      this.#known.set(key, rev === undefined ? known : { ...known, rev, version: known.state.version });
      if (this.#known.size > this.#maxKnown) this.#known.delete(this.#known.keys().next().value!);
    }
  }

  /** Current rows of `list` (locked with `lock`), creating or resetting rows for a new generation first. */
  async #load(c: Pool | PoolClient, list: TwinRef[], at: string, lock: boolean): Promise<Map<string, Known>> {
    const select = (l: TwinRef[]) =>
      c.query({
        name: lock ? 'twin-lock-batch' : 'twin-read-batch',
        text: `SELECT t.* FROM twin.twins t JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(hub, device_id, module_id)
                 ON t.hub = k.hub AND t.device_id = k.device_id AND t.module_id = k.module_id
               ORDER BY t.hub, t.device_id, t.module_id${lock ? ' FOR UPDATE OF t' : ''}`,
        values: [l.map((r) => r.hub), l.map((r) => r.deviceId), l.map((r) => r.moduleId)],
      });
    const rows = new Map<string, Row>();
    for (const r of (await select(list)).rows as Row[]) rows.set(rowKey(r), r);
    // first use, or a new generation of the identity: start from a fresh twin (the common case skips this)
    const stale = list.filter((ref) => rows.get(keyOf(ref))?.['generation_id'] !== ref.generationId);
    if (stale.length > 0) {
      const meta = JSON.stringify(newTwin(at).desiredMeta);
      for (const ref of stale) {
        await c.query(
          `INSERT INTO twin.twins (hub, device_id, module_id, generation_id, tags, desired, desired_meta, desired_version,
                                   reported, reported_meta, reported_version, version, etag_version)
           VALUES ($1, $2, $3, $4, '{}', '{}', $5, 1, '{}', $5, 1, 1, 1)
           ON CONFLICT (hub, device_id, module_id) DO UPDATE
             SET generation_id = EXCLUDED.generation_id, model_id = '', tags = '{}', desired = '{}', desired_meta = EXCLUDED.desired_meta,
                 desired_version = 1, reported = '{}', reported_meta = EXCLUDED.reported_meta, reported_version = 1, version = 1, etag_version = 1,
                 configurations = '{}', config_paths = '{}', rev = twin.twins.rev + 1
             WHERE twin.twins.generation_id <> EXCLUDED.generation_id`,
          [ref.hub, ref.deviceId, ref.moduleId, ref.generationId, meta],
        );
      }
      for (const r of (await select(stale)).rows as Row[]) rows.set(rowKey(r), r);
    }
    return new Map(
      list.map((ref) => {
        const r = rows.get(keyOf(ref));
        // deleted again between the insert and the select: the next pass (or the locked path) sees it
        if (!r) throw new Error(`twin ${ref.deviceId} vanished while being written`);
        return [keyOf(ref), { state: toState(r), rev: Number(r['rev']), version: Number(r['version']), generationId: r['generation_id'] as string }];
      }),
    );
  }

  /**
   * Update the changed rows whose revision and twin version are still the ones they were read at
   * (an older twin service mid-upgrade bumps only the version), and insert the events of the rows updated, in one statement; resolves the new revision of each row written.
   */
  async #write(c: Pool | PoolClient, refs: Map<string, TwinRef>, start: Map<string, Known>, dirty: Set<string>, events: KeyedEvent[]): Promise<Map<string, number>> {
    if (dirty.size === 0) return new Map();
    // rows and events as one JSON document each: pg escapes array parameters element by element
    // in JavaScript, JSON.stringify is native
    const rows = [...dirty].map((k) => {
      const { state: s, rev, version: baseVersion } = start.get(k)!;
      const r = refs.get(k)!;
      return {
        hub: r.hub, device_id: r.deviceId, module_id: r.moduleId, generation_id: r.generationId, rev, base_version: baseVersion, model_id: s.modelId,
        tags: s.tags, desired: s.desired, desired_meta: s.desiredMeta, desired_version: s.desiredVersion,
        reported: s.reported, reported_meta: s.reportedMeta, reported_version: s.reportedVersion,
        version: s.version, etag_version: s.etagVersion, configurations: s.configurations, config_paths: s.configPaths,
      };
    });
    const evs = events.map((e, n) => {
      const r = refs.get(e.key)!;
      return { n, hub: r.hub, device_id: r.deviceId, module_id: r.moduleId, subject: e.event.subject, headers: e.event.headers, body: e.event.body.toString('base64') };
    });
    const res = await c.query({
      name: 'twin-write-batch',
      text: `WITH v AS (
               SELECT * FROM jsonb_to_recordset($1::jsonb) AS v(hub text, device_id text, module_id text, generation_id text, rev bigint, base_version bigint, model_id text,
                 tags jsonb, desired jsonb, desired_meta jsonb, desired_version bigint, reported jsonb, reported_meta jsonb, reported_version bigint,
                 version bigint, etag_version bigint, configurations jsonb, config_paths jsonb)),
             u AS (
               UPDATE twin.twins t SET model_id = v.model_id, tags = v.tags, desired = v.desired, desired_meta = v.desired_meta,
                      desired_version = v.desired_version, reported = v.reported, reported_meta = v.reported_meta,
                      reported_version = v.reported_version, version = v.version, etag_version = v.etag_version,
                      configurations = v.configurations, config_paths = v.config_paths, rev = t.rev + 1
                 FROM v
                WHERE t.hub = v.hub AND t.device_id = v.device_id AND t.module_id = v.module_id AND t.rev = v.rev AND t.version = v.base_version AND t.generation_id = v.generation_id
               RETURNING t.hub, t.device_id, t.module_id, t.rev),
             o AS (
               INSERT INTO twin.outbox (event_id, subject, headers, body)
               SELECT gen_random_uuid(), e.subject, e.headers, decode(e.body, 'base64')
                 FROM jsonb_to_recordset($2::jsonb) AS e(n int, hub text, device_id text, module_id text, subject text, headers jsonb, body text)
                 JOIN u ON u.hub = e.hub AND u.device_id = e.device_id AND u.module_id = e.module_id
                ORDER BY e.n)
             SELECT hub, device_id, module_id, rev FROM u`,
      values: [JSON.stringify(rows), JSON.stringify(evs)],
    });
    return new Map((res.rows as Row[]).map((r) => [rowKey(r), Number(r['rev'])]));
  }
}

interface KeyedEvent {
  readonly key: string;
  readonly event: OutboxEvent;
}

function refsOf(batch: Pending[]): Map<string, TwinRef> {
  const refs = new Map<string, TwinRef>();
  for (const op of batch) refs.set(op.key, op.ref);
  return refs;
}

/** Apply each operation in order to its twin's state (in place); a throwing one is undone alone. */
function applyAll(batch: Pending[], start: Map<string, Known>): { outcomes: Map<Pending, Outcome>; dirty: Set<string>; events: KeyedEvent[] } {
  const outcomes = new Map<Pending, Outcome>();
  const dirty = new Set<string>();
  const events: KeyedEvent[] = [];
  for (const op of batch) {
    const known = start.get(op.key)!;
    const before = structuredClone(known.state);
    try {
      const produced = op.fn(known.state);
      if (produced !== undefined) {
        dirty.add(op.key);
        for (const event of produced) events.push({ key: op.key, event });
      }
      outcomes.set(op, { ok: true, value: op.view(known.state) });
    } catch (err) {
      start.set(op.key, { ...known, state: before }); // undo this write only
      outcomes.set(op, { ok: false, err });
    }
  }
  return { outcomes, dirty, events };
}

function settle(op: Pending, o: Outcome): void {
  if (o.ok) op.resolve(o.value);
  else op.reject(o.err);
}
