import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSasToken } from '@openiothub/auth';
import { uniqueName } from '@openiothub/testing';
import { startExtraGateway, type ExtraGateway } from './gateways.js';
import { iothub } from './helpers.js';

// Throttling (devguide §17, §22) on a hub of its own, served by two gateway processes of the
// build: the hub's budget is shared, so requests spread over both are counted together.

const hub = uniqueName('thr');
let gateways: ExtraGateway[] = [];
let token = '';

beforeAll(async () => {
  const created = await iothub('hub', 'create', '-n', hub, '--sku', 'S1', '--unit', '1');
  expect(created.code).toBe(0);
  expect(created.json()).toMatchObject({ name: hub, skuName: 'S1', skuUnits: 1 });
  const owner = (await iothub('--hub', hub, 'policy', 'show', '-n', 'iothubowner')).json() as { primaryKey: string };
  token = createSasToken({ resourceUri: 'localhost', key: owner.primaryKey, keyName: 'iothubowner', expiry: Math.floor(Date.now() / 1000) + 3600, encode: false });
  gateways = await Promise.all([startExtraGateway({ hub }), startExtraGateway({ hub })]);
});
afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
});

const call = (g: ExtraGateway, method: string, path: string, body?: unknown) =>
  fetch(`https://localhost:${g.httpsPort}${path}?api-version=2021-04-12`, {
    method,
    headers: { authorization: token, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

describe('throttling across two gateway processes', () => {
  it('S1: a burst of 100 identity operations is served, the rest get 429 ThrottlingException, wherever they land', async () => {
    const statuses: number[] = [];
    let throttledBody = '';
    for (let i = 0; i < 140; i += 1) {
      const res = await call(gateways[i % 2]!, 'GET', `/devices/${uniqueName('nobody')}`);
      statuses.push(res.status);
      const text = await res.text();
      if (res.status === 429) throttledBody = text;
    }
    const served = statuses.filter((s) => s === 404).length;
    const throttled = statuses.filter((s) => s === 429).length;
    expect(served + throttled).toBe(140);
    expect(served).toBeGreaterThanOrEqual(100);
    expect(served).toBeLessThan(112);
    // both gateways refused: the budget is the hub's, not a process's
    expect(new Set(statuses.map((s, i) => (s === 429 ? i % 2 : -1)).filter((g) => g >= 0)).size).toBe(2);
    expect(JSON.parse(throttledBody)).toMatchObject({ Message: expect.stringMatching(/^ErrorCode:ThrottlingException;/) });
  });

  it('more units of a bigger tier lift the limit at once (S3: 5000/min/unit); under the rate nothing is refused', async () => {
    const set = await call(gateways[0]!, 'PUT', '/settings/sku', { name: 'S3', capacity: 1 });
    expect(set.status).toBe(200);
    expect(await set.json()).toEqual({ name: 'S3', capacity: 1 });
    // the other gateway heard of the change (reg.{hub}.settings) and throttles by the new tier
    const statuses = await Promise.all(Array.from({ length: 200 }, (_, i) => call(gateways[i % 2]!, 'GET', `/devices/${uniqueName('nobody')}`).then((r) => r.status)));
    expect(statuses.filter((s) => s === 429)).toEqual([]);
    expect((await call(gateways[1]!, 'GET', '/settings/sku').then((r) => r.json())) as unknown).toEqual({ name: 'S3', capacity: 1 });
    expect((await call(gateways[1]!, 'PUT', '/settings/sku', { name: 'Z9', capacity: 1 })).status).toBe(400);
  });
});
