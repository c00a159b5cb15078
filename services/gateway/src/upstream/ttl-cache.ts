/**
 * A small TTL cache that also coalesces concurrent loads of one key, so a burst of requests for
 * the same policy makes one registry call.
 */
export class TtlCache<V> {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #entries = new Map<string, { value: Promise<V>; expires: number }>();

  constructor(opts: { ttlMs: number; max?: number }) {
    this.#ttlMs = opts.ttlMs;
    this.#max = opts.max ?? 10_000;
  }

  get(key: string, load: () => Promise<V>, now = Date.now()): Promise<V> {
    const hit = this.#entries.get(key);
    if (hit && hit.expires > now) return hit.value;
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value as string);
    const value = load();
    this.#entries.set(key, { value, expires: now + this.#ttlMs });
    // failures are not cached
    value.catch(() => this.#entries.delete(key));
    return value;
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  deleteWhere(pred: (key: string) => boolean): void {
    for (const k of this.#entries.keys()) if (pred(k)) this.#entries.delete(k);
  }
}
