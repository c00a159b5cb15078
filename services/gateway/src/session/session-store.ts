import type { Redis } from 'ioredis';
import { SUBSCRIPTION_KINDS, type SubscriptionKind } from '../mqtt/topics.js';

/**
 * MQTT persistent sessions (clean session = 0) in Redis, so subscriptions survive the SDK's
 * SAS-renewal reconnect even when it lands on another gateway (sdk-compat §4.8). IoT Hub's topic
 * set is fixed, so a session is just the set of subscription kinds.
 */
export class SessionStore {
  readonly #redis: Redis;
  readonly #ttlSeconds: number;

  constructor(redis: Redis, ttlSeconds: number) {
    this.#redis = redis;
    this.#ttlSeconds = ttlSeconds;
  }

  #key(hub: string, clientId: string): string {
    return `oih:mqtt-session:${hub}:${clientId}`;
  }

  /** The stored subscriptions, or undefined when there is no session. */
  async load(hub: string, clientId: string): Promise<Set<SubscriptionKind> | undefined> {
    const raw = await this.#redis.get(this.#key(hub, clientId));
    if (raw === null) return undefined;
    const kinds = raw.split(',').filter((k): k is SubscriptionKind => (SUBSCRIPTION_KINDS as readonly string[]).includes(k));
    return new Set(kinds);
  }

  async save(hub: string, clientId: string, kinds: ReadonlySet<SubscriptionKind>): Promise<void> {
    await this.#redis.set(this.#key(hub, clientId), [...kinds].sort().join(','), 'EX', this.#ttlSeconds);
  }

  async clear(hub: string, clientId: string): Promise<void> {
    await this.#redis.del(this.#key(hub, clientId));
  }
}
