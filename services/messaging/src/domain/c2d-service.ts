import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ArgumentInvalidError, DomainError } from '@openiothub/errors';
import { TtlCache } from '@openiothub/runtime';
import type { C2DStore, ServiceQueue } from '../store/c2d-store.js';
import { settingsFromJson, settingsToJson, type C2DSettings, type CloudToDeviceJson } from './settings.js';
import { ACK_MODES, type LockedFeedback, type LockedMessage, type OutgoingMessage, type QueueKey } from './types.js';

function lockLost(lockToken: string): DomainError {
  return new DomainError('DeviceMessageLockLost', `The lock ${lockToken} is not held (it expired, or the message was settled).`);
}

/** IoT Hub: C2D messages up to 64 KB (body plus properties). */
export const MAX_C2D_BYTES = 64 * 1024;

/** Who an identity is now: its generation, or undefined when it does not exist. */
export type IdentityLookup = (key: QueueKey) => Promise<{ generationId: string } | undefined>;

/** Size IoT Hub counts: body, application properties and the system properties the sender set. */
export function messageSize(m: OutgoingMessage): number {
  let n = m.body.length;
  for (const [k, v] of Object.entries(m.properties)) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  for (const v of [m.messageId, m.correlationId, m.userId, m.contentType, m.contentEncoding]) n += Buffer.byteLength(v);
  return n;
}

// Release a lock only while it is still ours (a lock that expired may belong to another delivery now).
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/**
 * Cloud-to-device queues (devguide §7.2): Enqueued → (receive) Invisible → Completed | Dead
 * lettered | Enqueued again. A receive takes the queue's lock in Redis — one delivery in flight
 * per queue, whichever gateway process asks — then locks the oldest message in Postgres under the
 * same token. The Redis lock expiring (lock timeout, a crashed gateway) makes the message
 * deliverable again; the delivery was already counted.
 */
export class C2DService {
  readonly #store: C2DStore;
  readonly #redis: Redis;
  readonly #identities: IdentityLookup;
  readonly #nudge: (key: QueueKey) => void;
  readonly #lockMs: number;
  /** Hub settings change rarely; another replica's change is seen within the TTL. */
  readonly #settings = new TtlCache<C2DSettings>({ ttlMs: 5000 });
  /** Generations of existing identities; dropped when the registry announces a change ({@link identityChanged}). */
  readonly #generations: TtlCache<{ generationId: string } | undefined>;

  constructor(opts: { store: C2DStore; redis: Redis; identities: IdentityLookup; nudge: (key: QueueKey) => void; lockMs: number; identityCacheMs?: number }) {
    this.#store = opts.store;
    this.#redis = opts.redis;
    this.#identities = opts.identities;
    this.#nudge = opts.nudge;
    this.#lockMs = opts.lockMs;
    this.#generations = new TtlCache({ ttlMs: opts.identityCacheMs ?? 30_000 });
  }

  /** The registry changed (created, updated, deleted) a device or its modules: forget what was cached. */
  identityChanged(hub: string, deviceId: string): void {
    const prefix = JSON.stringify([hub, deviceId]).slice(0, -1) + ',';
    this.#generations.deleteWhere((k) => k.startsWith(prefix));
  }

  #hubSettings(hub: string): Promise<C2DSettings> {
    return this.#settings.get(hub, () => this.#store.settings(hub));
  }

  async #identity(key: QueueKey): Promise<{ generationId: string } | undefined> {
    const cacheKey = JSON.stringify([key.hub, key.deviceId, key.moduleId]);
    const found = await this.#generations.get(cacheKey, () => this.#identities(key));
    // an identity may be created any moment: never remember that it was missing
    if (!found) this.#generations.delete(cacheKey);
    return found;
  }

  static lockKey(key: QueueKey): string {
    return `c2d:lock:${JSON.stringify([key.hub, key.deviceId, key.moduleId])}`;
  }

  /**
   * Enqueue for an existing identity and tell the gateway holding it. `holderGenerationId` comes
   * from a gateway that holds the identity (that generation) with no delivery in flight: when the
   * message is the next to deliver and no delivery holds the queue, it is stored locked for that
   * gateway — as a receive would lock it — and returned as `locked` instead of a nudge.
   */
  async send(key: QueueKey, msg: OutgoingMessage, holderGenerationId = ''): Promise<{ messageId: string; sequenceNumber: number; locked?: LockedMessage }> {
    if (!(ACK_MODES as readonly string[]).includes(msg.ack)) throw new ArgumentInvalidError(`The ack mode must be one of ${ACK_MODES.join(', ')}; got "${msg.ack}".`);
    if (key.moduleId && !msg.inputName) throw new ArgumentInvalidError('A message to a module needs an input name.');
    const size = messageSize(msg);
    if (size > MAX_C2D_BYTES) throw new DomainError('MessageTooLarge', `The message is ${size} bytes; cloud-to-device messages are limited to ${MAX_C2D_BYTES} bytes.`);
    const identity = await this.#identity(key);
    if (!identity) {
      throw key.moduleId
        ? new DomainError('ModuleNotFound', `Module ${key.moduleId} on device ${key.deviceId} is not registered.`)
        : new DomainError('DeviceNotFound', `Device ${key.deviceId} is not registered.`);
    }
    const settings = await this.#hubSettings(key.hub);
    const messageId = msg.messageId || randomUUID();
    const lockKey = C2DService.lockKey(key);
    // Redis unavailable: the send still goes, unlocked (as before this path existed)
    const token = holderGenerationId && holderGenerationId === identity.generationId ? await this.#lock(lockKey).catch(() => undefined) : undefined;
    let r: { sequenceNumber: number; locked?: LockedMessage };
    try {
      r = await this.#store.enqueue(key, identity.generationId, { ...msg, messageId }, settings.defaultTtlMs, token ? { token, lockMs: this.#lockMs } : undefined);
    } catch (err) {
      if (token) await this.#release(lockKey, token).catch(() => undefined);
      throw err;
    }
    if (r.locked) return { messageId, sequenceNumber: r.sequenceNumber, locked: r.locked };
    // older messages go first: the lock was not needed (one left behind expires by itself; the
    // message is enqueued either way, so the send must not fail now)
    if (token) await this.#release(lockKey, token).catch(() => undefined);
    this.#nudge(key);
    return { messageId, sequenceNumber: r.sequenceNumber };
  }

  /** Take the queue's delivery lock; undefined when another delivery holds it. */
  async #lock(lockKey: string): Promise<string | undefined> {
    const token = randomUUID();
    return (await this.#redis.set(lockKey, token, 'PX', this.#lockMs, 'NX')) === 'OK' ? token : undefined;
  }

  /** Lock the next message; `retryAfterMs` > 0 when another delivery holds the queue. */
  async receive(key: QueueKey, generationId: string): Promise<{ message?: LockedMessage; retryAfterMs: number }> {
    const lockKey = C2DService.lockKey(key);
    const token = await this.#lock(lockKey);
    if (!token) {
      const ttl = await this.#redis.pttl(lockKey);
      return { retryAfterMs: ttl > 0 ? ttl : 1 };
    }
    try {
      const settings = await this.#hubSettings(key.hub);
      const message = await this.#store.lockNext(key, generationId, token, this.#lockMs, settings.maxDeliveryCount);
      if (!message) await this.#release(lockKey, token);
      return message ? { message, retryAfterMs: 0 } : { retryAfterMs: 0 };
    } catch (err) {
      await this.#release(lockKey, token).catch(() => undefined);
      throw err;
    }
  }

  /** Complete: resolves how many messages are still waiting. */
  async complete(key: QueueKey, lockToken: string): Promise<number> {
    return this.#removed(key, lockToken, await this.#store.remove(key, lockToken, 'Success'));
  }

  /** Reject (dead-letter): resolves how many messages are still waiting. */
  async reject(key: QueueKey, lockToken: string): Promise<number> {
    return this.#removed(key, lockToken, await this.#store.remove(key, lockToken, 'Rejected'));
  }

  async abandon(key: QueueKey, lockToken: string): Promise<void> {
    if (!(await this.#store.unlock(key, lockToken))) throw lockLost(lockToken);
    await this.#release(C2DService.lockKey(key), lockToken);
    // the message is deliverable again: wake whoever holds the device
    this.#nudge(key);
  }

  async purge(key: QueueKey): Promise<number> {
    const n = await this.#store.purge(key);
    await this.#redis.del(C2DService.lockKey(key));
    return n;
  }

  count(key: QueueKey): Promise<number> {
    return this.#store.count(key);
  }

  // the receiver that settled goes on by itself (it knows what is left): no nudge
  async #removed(key: QueueKey, lockToken: string, remaining: number | undefined): Promise<number> {
    if (remaining === undefined) throw lockLost(lockToken);
    await this.#release(C2DService.lockKey(key), lockToken);
    return remaining;
  }

  async #release(lockKey: string, token: string): Promise<void> {
    await this.#redis.eval(RELEASE, 1, lockKey, token);
  }

  /** Dead-letter expired messages; wakes the queues so their next message goes out. */
  async sweep(limit = 500): Promise<number> {
    const keys = await this.#store.sweepExpired(limit);
    return keys.length;
  }

  batchFeedback(): Promise<string[]> {
    return this.#store.batchFeedback(5000, 500);
  }

  async receiveFeedback(hub: string): Promise<LockedFeedback | undefined> {
    const s = await this.#hubSettings(hub);
    return this.#store.lockFeedback(hub, randomUUID(), { lockMs: s.feedbackLockMs, maxDeliveryCount: s.feedbackMaxDeliveryCount });
  }

  async settleFeedback(hub: string, lockToken: string, complete: boolean, queue: ServiceQueue = 'feedback'): Promise<void> {
    if (!(await this.#store.settleFeedback(hub, lockToken, complete, queue))) {
      throw new DomainError('DeviceMessageLockLost', `The lock ${lockToken} is not held (it expired, or the message was settled).`);
    }
  }

  async settings(hub: string): Promise<CloudToDeviceJson> {
    return settingsToJson(await this.#store.settings(hub));
  }

  async updateSettings(hub: string, json: string): Promise<CloudToDeviceJson> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      throw new ArgumentInvalidError('The cloudToDevice settings are not valid JSON.');
    }
    const next: C2DSettings = settingsFromJson(parsed, await this.#store.settings(hub));
    await this.#store.saveSettings(hub, next);
    this.#settings.delete(hub);
    return settingsToJson(next);
  }
}
