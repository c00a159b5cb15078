import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { testUrls, uniqueName } from '@openiothub/testing';
import { Throttle } from '../src/throttle/throttle.js';
import type { RegistryClient } from '../src/upstream/registry-client.js';

// The throttle's token buckets in the machine's Redis, shared by two Throttle instances as by two
// gateway processes; the hub's SKU comes from a registry stand-in (the registry itself is proven
// in its own tests and end to end).

const redis = new Redis(testUrls().redisUrl);
afterAll(async () => {
  await redis.quit();
});

const registryWith = (skuName: string, skuUnits = 1) => ({ getHub: async ({ hub }: { hub: string }) => ({ hub: { name: hub, skuName, skuUnits } }) }) as unknown as RegistryClient;

async function outcomes(n: number, take: (i: number) => Promise<void>): Promise<{ ok: number; throttled: number }> {
  let ok = 0;
  let throttled = 0;
  for (let i = 0; i < n; i += 1) {
    try {
      await take(i);
      ok += 1;
    } catch (err) {
      expect(err).toMatchObject({ code: 'ThrottlingException' });
      throttled += 1;
    }
  }
  return { ok, throttled };
}

describe('throttling across gateway processes (Redis token buckets)', () => {
  it('S1 identity operations: a burst of one minute (100) is accepted, then 429 — counted across both gateways', async () => {
    const hub = uniqueName('thr');
    const a = new Throttle({ redis, registry: registryWith('S1'), cacheMs: 60_000 });
    const b = new Throttle({ redis, registry: registryWith('S1'), cacheMs: 60_000 });
    const r = await outcomes(140, (i) => (i % 2 === 0 ? a : b).take(hub, 'identity'));
    // 100 in the bucket, plus what refills (1.67/s) while the loop runs
    expect(r.ok).toBeGreaterThanOrEqual(100);
    expect(r.ok).toBeLessThan(110);
    expect(r.throttled).toBe(140 - r.ok);
    // another hub has its own budget
    await expect(a.take(uniqueName('thr'), 'identity')).resolves.toBeUndefined();
  });

  it('refills at the rate: after the burst, about one more identity operation per 0.6 s', async () => {
    const hub = uniqueName('thr');
    const t = new Throttle({ redis, registry: registryWith('S1'), cacheMs: 60_000 });
    await outcomes(101, () => t.take(hub, 'identity'));
    await expect(t.take(hub, 'identity')).rejects.toMatchObject({ code: 'ThrottlingException' });
    await new Promise((r) => setTimeout(r, 700));
    await expect(t.take(hub, 'identity')).resolves.toBeUndefined();
  });

  it('under the rate nothing is refused; "unlimited" never touches Redis', async () => {
    const hub = uniqueName('thr');
    const s3 = new Throttle({ redis, registry: registryWith('S3', 2), cacheMs: 60_000 });
    expect((await outcomes(500, () => s3.take(hub, 'identity'))).throttled).toBe(0);
    const offline = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    const unlimited = new Throttle({ redis: offline, registry: registryWith('unlimited'), cacheMs: 60_000 });
    await expect(unlimited.take(hub, 'd2c')).resolves.toBeUndefined();
    await expect(unlimited.meter(hub, 10_000)).resolves.toBeUndefined();
    offline.disconnect();
  });

  it('the daily quota counts 4 KB chunks and refuses past it (403 IotHubQuotaExceeded)', async () => {
    const hub = uniqueName('thr');
    const f1 = new Throttle({ redis, registry: registryWith('F1'), cacheMs: 60_000 });
    // F1: 8,000 messages of 0.5 KB a day; a 2 MB burst of 512-byte chunks is 4,096 messages
    await f1.meter(hub, 2 * 1024 * 1024);
    await f1.meter(hub, 2 * 1024 * 1024 - 512 * 200);
    await expect(f1.meter(hub, 512 * 201)).rejects.toMatchObject({ code: 'IotHubQuotaExceeded' });
    await expect(f1.meter(hub, 512 * 8)).resolves.toBeUndefined();
    await expect(f1.meter(hub, 1)).rejects.toMatchObject({ code: 'IotHubQuotaExceeded' });
  });

  it('twin operations count 512-byte chunks; an after-the-fact count is never refused; usage and ensureQuota read the day', async () => {
    const hub = uniqueName('thr');
    const s1 = new Throttle({ redis, registry: registryWith('S1'), cacheMs: 60_000 });
    await s1.meter(hub, 6 * 1024, 'twin', false); // a 6 KB twin read: 12 (checklist 280)
    await s1.meter(hub, [6 * 1024, 1024]); // a method: 6 KB request + 1 KB response = 2 + 1 (checklist 281)
    expect(await s1.usage(hub)).toEqual({ used: 15, max: 400_000 });
    await expect(s1.ensureQuota(hub)).resolves.toBeUndefined();
    const f1 = new Throttle({ redis, registry: registryWith('F1'), cacheMs: 60_000 });
    const small = uniqueName('thr');
    await f1.meter(small, 512 * 7_999);
    await expect(f1.ensureQuota(small)).resolves.toBeUndefined();
    await f1.meter(small, 512 * 5, 'message', false); // counted past the quota: it already happened
    expect(await f1.usage(small)).toEqual({ used: 8_004, max: 8_000 });
    await expect(f1.ensureQuota(small)).rejects.toMatchObject({ code: 'IotHubQuotaExceeded' });
  });
});
