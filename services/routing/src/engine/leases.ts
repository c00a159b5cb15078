import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/** A unit of work exactly one routing process runs at a time (a hub partition, an endpoint's deliveries). */
export interface WorkItem {
  readonly key: string;
  start(): void;
  /** Stop taking new work and finish what is in hand. */
  stop(): Promise<void>;
}

const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/**
 * Spreads work items over every live routing process with Redis leases, so any number of
 * processes share the work and each item (one ordered stream) has one reader at a time. Each
 * process heartbeats in a member set; on every tick it renews what it holds, gives back what is
 * above its fair share (`ceil(items / members)`), and takes free items up to that share. A process
 * that dies loses its leases after `leaseMs`; another takes them over and continues from the
 * durable consumer's acknowledged position.
 */
export class LeaseBalancer {
  readonly id = randomUUID();
  readonly #redis: Redis;
  readonly #leaseMs: number;
  readonly #prefix: string;
  readonly #items = new Map<string, WorkItem>();
  readonly #held = new Map<string, WorkItem>();

  constructor(opts: { redis: Redis; leaseMs: number; prefix?: string }) {
    this.#redis = opts.redis;
    this.#leaseMs = opts.leaseMs;
    this.#prefix = opts.prefix ?? 'routing';
  }

  /** Items this process may run; call whenever discovery finds new ones. */
  offer(item: WorkItem): void {
    if (!this.#items.has(item.key)) this.#items.set(item.key, item);
  }

  /** An item that no longer exists (an endpoint deleted): stopped here if held. */
  async withdraw(key: string): Promise<void> {
    this.#items.delete(key);
    await this.#release(key);
  }

  has(key: string): boolean {
    return this.#items.has(key);
  }

  get held(): readonly string[] {
    return [...this.#held.keys()];
  }

  async tick(now = Date.now()): Promise<void> {
    const members = `${this.#prefix}:members`;
    await this.#redis.zadd(members, now + this.#leaseMs, this.id);
    await this.#redis.zremrangebyscore(members, 0, now);
    const live = Math.max(1, await this.#redis.zcard(members));
    const share = Math.ceil(this.#items.size / live);

    for (const [key, item] of [...this.#held]) {
      const ok = (await this.#redis.eval(RENEW, 1, this.#leaseKey(key), this.id, this.#leaseMs)) === 1;
      if (!ok) {
        this.#held.delete(key);
        await item.stop();
      }
    }
    while (this.#held.size > share) {
      const key = [...this.#held.keys()].pop()!;
      await this.#release(key);
    }
    for (const [key, item] of this.#items) {
      if (this.#held.size >= share) break;
      if (this.#held.has(key)) continue;
      const got = await this.#redis.set(this.#leaseKey(key), this.id, 'PX', this.#leaseMs, 'NX');
      if (got === 'OK') {
        this.#held.set(key, item);
        item.start();
      }
    }
  }

  /** Give everything back (shutdown): others take over at once instead of after the lease expires. */
  async stop(): Promise<void> {
    for (const key of [...this.#held.keys()]) await this.#release(key);
    await this.#redis.zrem(`${this.#prefix}:members`, this.id);
  }

  async #release(key: string): Promise<void> {
    const item = this.#held.get(key);
    if (!item) return;
    this.#held.delete(key);
    await item.stop();
    await this.#redis.eval(RELEASE, 1, this.#leaseKey(key), this.id);
  }

  #leaseKey(key: string): string {
    return `${this.#prefix}:lease:${key}`;
  }
}
