/**
 * A small TTL cache that also coalesces concurrent loads of one key, so a burst of requests for
 * the same policy makes one registry call.
 */
export class TtlCache<V> {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #entries = new Map<string, { value: Promise<V>; expires: number; settled: boolean }>();

  constructor(opts: { ttlMs: number; max?: number }) {
    this.#ttlMs = opts.ttlMs;
    this.#max = opts.max ?? 10_000;
  }

  get(key: string, load: () => Promise<V>, now = Date.now()): Promise<V> {
    const hit = this.#entries.get(key);
    if (hit && hit.expires > now) return hit.value;
    return this.#load(key, load, now);
  }

  /**
   * Load again now, unless a load of this key is still in flight (then share it): for callers that
   * found the cached value stale (a key was just rotated). Concurrent refreshes of one key make one
   * load, so a flood of bad requests costs at most one registry call per round trip.
   */
  refresh(key: string, load: () => Promise<V>, now = Date.now()): Promise<V> {
    const hit = this.#entries.get(key);
    if (hit && !hit.settled) return hit.value;
    return this.#load(key, load, now);
  }

  #load(key: string, load: () => Promise<V>, now: number): Promise<V> {
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value as string);
    const value = load();
    const entry = { value, expires: now + this.#ttlMs, settled: false };
    this.#entries.set(key, entry);
    value.then(
      () => void (entry.settled = true),
      () => {
        // failures are not cached
        if (this.#entries.get(key) === entry) this.#entries.delete(key);
      },
    );
    return value;
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  deleteWhere(pred: (key: string) => boolean): void {
    for (const k of this.#entries.keys()) if (pred(k)) this.#entries.delete(k);
  }
}
