import { describe, expect, it } from 'vitest';
import { TtlCache } from './ttl-cache.js';

describe('TtlCache', () => {
  it('coalesces loads, expires, does not cache failures', async () => {
    const cache = new TtlCache<number>({ ttlMs: 100 });
    let loads = 0;
    const load = async () => ++loads;
    const [a, b] = await Promise.all([cache.get('k', load, 0), cache.get('k', load, 0)]);
    expect([a, b, loads]).toEqual([1, 1, 1]);
    expect(await cache.get('k', load, 99)).toBe(1);
    expect(await cache.get('k', load, 100)).toBe(2);
    await expect(cache.get('f', () => Promise.reject(new Error('x')), 0)).rejects.toThrow('x');
    await new Promise((r) => setImmediate(r));
    expect(await cache.get('f', async () => 7, 1)).toBe(7);
  });

  it('refreshes settled entries, sharing a refresh that is still in flight', async () => {
    const cache = new TtlCache<number>({ ttlMs: 10_000 });
    let loads = 0;
    const load = async () => ++loads;
    await cache.get('k', load, 0);
    const [a, b] = await Promise.all([cache.refresh('k', load, 1), cache.refresh('k', load, 1)]);
    expect([a, b, loads]).toEqual([2, 2, 2]);
    expect(await cache.get('k', load, 2)).toBe(2);
  });
});
