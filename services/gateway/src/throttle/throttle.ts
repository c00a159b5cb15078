import type { Redis } from 'ioredis';
import type { Logger } from '@openiothub/logging';
import { DomainError } from '@openiothub/errors';
import { TtlCache, type HubMetrics } from '@openiothub/runtime';
import type { RegistryClient } from '../upstream/registry-client.js';
import { chunkBytesOf, dailyQuota, isBasicTier, meteredMessages, ratePerSecond, type MeterKind, type Operation } from './quotas.js';

/**
 * One token bucket per hub and operation in Redis, shared by every gateway process: refilled at
 * the operation's rate, holding a minute of it (IoT Hub's throttles are "applied in minute ranges":
 * a burst is accepted, sustained excess is refused). Time is Redis's own, so gateway clocks do not
 * matter. Returns 1 when `cost` tokens were taken, 0 when not.
 */
const TAKE = `
local rate = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil then tokens = cap; ts = now end
tokens = math.min(cap, tokens + (now - ts) * rate / 1000)
local ok = 0
if tokens >= cost then tokens = tokens - cost; ok = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(cap / rate * 1000) + 1000)
return ok
`;

/**
 * The daily message quota: chunks counted per UTC day. With a limit (ARGV[2]), a count that would
 * pass it is refused and not counted; without one (after-the-fact counts) it is always counted.
 * Returns {1, used} when counted, {0, used} when refused.
 */
const COUNT = `
local used = redis.call('INCRBY', KEYS[1], ARGV[1])
if used == tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[1], 172800) end
if ARGV[2] ~= '' and used > tonumber(ARGV[2]) then return {0, redis.call('DECRBY', KEYS[1], ARGV[1])} end
return {1, used}
`;

/** The day's quota key: the count resets at 00:00 UTC (protocols-ops checklist 121). */
const quotaKey = (hub: string) => `quota:${hub}:${new Date().toISOString().slice(0, 10)}`;

const quotaExceeded = (messages: number) => new DomainError('IotHubQuotaExceeded', `The hub's daily message quota (${messages} messages) is used up.`);

/** IoT Hub's throttling and daily quota for the hubs of this deployment (devguide §17, §22). */
export class Throttle {
  readonly #redis: Redis;
  readonly #registry: RegistryClient;
  readonly #skus: TtlCache<{ name: string; units: number }>;

  readonly #metrics: HubMetrics | undefined;
  readonly #log: Pick<Logger, 'warn'> | undefined;

  constructor(opts: { redis: Redis; registry: RegistryClient; cacheMs: number; hubMetrics?: HubMetrics; log?: Pick<Logger, 'warn'> }) {
    this.#metrics = opts.hubMetrics;
    this.#log = opts.log;
    this.#redis = opts.redis;
    this.#registry = opts.registry;
    this.#skus = new TtlCache({ ttlMs: opts.cacheMs });
  }

  /** Drop a hub's SKU after the registry announced a change. */
  invalidate(hub: string): void {
    this.#skus.deleteWhere((k) => k === hub);
  }

  async #sku(hub: string): Promise<{ name: string; units: number }> {
    return this.#skus.get(hub, async () => {
      const h = (await this.#registry.getHub({ hub })).hub;
      return { name: h?.skuName || 'unlimited', units: h?.skuUnits || 1 };
    });
  }

  /** 403 IotHubNotSupported when the hub is Basic tier (B1-B3) and `feature` is a standard-tier one (protocols-ops §0.1). */
  async requireStandardTier(hub: string, feature: string): Promise<void> {
    const sku = await this.#sku(hub);
    if (isBasicTier(sku.name)) throw new DomainError('IotHubNotSupported', `${feature} is not available in the basic tier (${sku.name}); the hub needs a standard tier (S1-S3) or F1.`);
  }

  /** Whether the hub is Basic tier (B1-B3): telemetry, identities, queries, file upload and routing only. */
  async isBasicTier(hub: string): Promise<boolean> {
    return isBasicTier((await this.#sku(hub)).name);
  }

  /** Take `cost` of the hub's `op` budget; 429 ThrottlingException when it is spent. Free for "unlimited" hubs. */
  async take(hub: string, op: Operation, cost = 1): Promise<void> {
    const sku = await this.#sku(hub);
    const rate = ratePerSecond(sku.name, sku.units, op);
    if (rate === undefined) return;
    // the key names the SKU: a new tier starts with a full bucket of its own
    const ok = (await this.#redis.eval(TAKE, 1, `throttle:${hub}:${op}:${sku.name}:${sku.units}`, String(rate), String(rate * 60), String(cost))) as number;
    if (ok !== 1) throw new DomainError('ThrottlingException', `The hub's ${op} rate (${sku.name}, ${sku.units} unit${sku.units === 1 ? '' : 's'}: ${rate}/s) is exceeded; retry later.`);
  }

  /**
   * Meter an operation's payloads against the daily quota (devguide §18): each size counts one
   * message per started chunk — 4 KB (0.5 KB on F1) for messages and methods, 512 bytes for twin
   * reads, updates and query results. With `enforce` (the default) a count that passes the quota
   * is refused with 403 IotHubQuotaExceeded and not counted; without it (what an operation that
   * already happened used, e.g. a method's response) it is always counted. `sizes` may be a function,
   * called only for a hub with a quota.
   */
  async meter(hub: string, sizes: number | readonly number[] | (() => readonly number[]), kind: MeterKind = 'message', enforce = true): Promise<void> {
    const sku = await this.#sku(hub);
    const quota = dailyQuota(sku.name, sku.units);
    if (!quota) return;
    const chunk = chunkBytesOf(kind, quota);
    const messages = (typeof sizes === 'number' ? [sizes] : typeof sizes === 'function' ? sizes() : sizes).reduce((n, size) => n + meteredMessages(size, chunk), 0);
    const [ok, used] = (await this.#redis.eval(COUNT, 1, quotaKey(hub), String(messages), enforce ? String(quota.messages) : '')) as [number, number];
    this.#metrics?.set('dailyMessageQuotaUsed', hub, used);
    if (ok !== 1) throw quotaExceeded(quota.messages);
  }

  /**
   * Count what an operation that already ran used against the daily quota (never refused); it
   * never fails the caller — a count that could not be made is logged.
   */
  record(hub: string, sizes: number | readonly number[] | (() => readonly number[]), kind: MeterKind): void {
    this.meter(hub, sizes, kind, false).catch((err: unknown) => this.#log?.warn({ err, hub }, 'daily quota not metered'));
  }

  /** 403 IotHubQuotaExceeded when the day's quota is used up (before an operation metered after it ran). */
  async ensureQuota(hub: string): Promise<void> {
    const usage = await this.usage(hub);
    if (usage.max !== undefined && usage.used >= usage.max) throw quotaExceeded(usage.max);
  }

  /** Messages metered today (UTC) and the daily quota (undefined: none). */
  async usage(hub: string): Promise<{ used: number; max: number | undefined }> {
    const sku = await this.#sku(hub);
    const quota = dailyQuota(sku.name, sku.units);
    if (!quota) return { used: 0, max: undefined };
    return { used: Number((await this.#redis.get(quotaKey(hub))) ?? 0), max: quota.messages };
  }
}
