import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Pool } from '@openiothub/postgres';
import { testContext, testUrls, uniqueName } from '@openiothub/testing';
import { applyReported, applyUpdate } from '../src/domain/twin.js';
import { TwinStore, type TwinRef } from '../src/store/twin-store.js';

/**
 * Two stores on one database stand for two twin processes: each remembers the twins it wrote and
 * writes from that state unless another process wrote in between.
 */
const urls = testUrls();
const ctx = testContext('twin-store-int');
const hub = uniqueName('storehub');
let pool: Pool;
const events: number[] = [];

beforeAll(async () => {
  ({ pool } = await openDatabase({ url: urls.databaseUrl, name: 'twin-store-int', schema: 'twin', migrations: fileURLToPath(new URL('../migrations', import.meta.url)), poolSize: 10, lifecycle: ctx.lifecycle }));
});

afterAll(async () => {
  await pool?.query('DELETE FROM twin.outbox WHERE subject LIKE $1', [`%${hub}%`]);
  await ctx[Symbol.asyncDispose]();
});

const at = () => new Date().toISOString();
const ref = (deviceId: string, generationId = 'g1'): TwinRef => ({ hub, deviceId, moduleId: '', generationId });
const event = (deviceId: string, n: number) => ({ subject: `test.${hub}.${deviceId}`, headers: { n: String(n) }, body: Buffer.from(String(n)) });
const report = (store: TwinStore, r: TwinRef, patch: Record<string, unknown>, n: number) =>
  store.modify(r, at(), (s) => {
    applyReported(s, patch, at());
    return [event(r.deviceId, n)];
  });
const outboxOf = async (deviceId: string) =>
  (await pool.query<{ body: Buffer }>('SELECT body FROM twin.outbox WHERE subject = $1 ORDER BY id', [`test.${hub}.${deviceId}`])).rows.map((r) => Number(r.body.toString()));

describe('twin store (optimistic writes from what a process remembers)', () => {
  it('a write from a stale memory of the twin is applied again on the state another process wrote: nothing is lost', async () => {
    const a = new TwinStore(pool, () => events.push(1));
    const b = new TwinStore(pool, () => events.push(1));
    const r = ref(uniqueName('stale'));
    await report(a, r, { fromA: 1 }, 1); // a remembers the twin
    await report(b, r, { fromB: 1 }, 2); // b writes behind a's back
    const s = await report(a, r, { fromA: 2 }, 3); // a's memory is stale: the write must land on b's state
    expect(s.reported).toMatchObject({ fromA: 2, fromB: 1 });
    expect(s.reportedVersion).toBe(4);
    const read = await b.read(r, at());
    expect(read.reported).toMatchObject({ fromA: 2, fromB: 1 });
    // every write's event, once each, in order
    expect(await outboxOf(r.deviceId)).toEqual([1, 2, 3]);
  });

  it('notices a writer that does not know the row revision (an older twin service mid-upgrade) by the twin version', async () => {
    const a = new TwinStore(pool, () => undefined);
    const r = ref(uniqueName('old'));
    await report(a, r, { fromA: 1 }, 1);
    // what the previous version of the store wrote: sections and versions, rev untouched
    await pool.query(
      `UPDATE twin.twins SET reported = reported || '{"fromOld":1}', reported_version = reported_version + 1, version = version + 1
        WHERE hub = $1 AND device_id = $2 AND module_id = ''`,
      [hub, r.deviceId],
    );
    const s = await report(a, r, { fromA: 2 }, 2);
    expect(s.reported).toMatchObject({ fromA: 2, fromOld: 1 });
    expect(s.reportedVersion).toBe(4);
  });

  it('reads see what another process wrote', async () => {
    const a = new TwinStore(pool, () => undefined);
    const b = new TwinStore(pool, () => undefined);
    const r = ref(uniqueName('read'));
    await a.read(r, at());
    await b.modify(r, at(), (s) => {
      applyUpdate(s, { tags: { site: 'b' } }, at());
      return [];
    });
    expect((await a.read(r, at())).tags).toEqual({ site: 'b' });
  });

  for (const attempts of [2, 0]) {
    it(`two processes writing one twin at once keep every write and strictly increasing versions (${attempts === 0 ? 'locked path only' : 'optimistic, then locked'})`, async () => {
      const stores = [new TwinStore(pool, () => undefined, { optimisticAttempts: attempts }), new TwinStore(pool, () => undefined, { optimisticAttempts: attempts })];
      const r = ref(uniqueName('race'));
      const versions = await Promise.all(Array.from({ length: 60 }, (_, i) => report(stores[i % 2]!, r, { [`k${i}`]: i }, i).then((s) => s.reportedVersion)));
      expect(new Set(versions).size).toBe(60);
      expect(versions.slice().sort((x, y) => x - y)).toEqual(Array.from({ length: 60 }, (_, i) => i + 2));
      const final = await stores[0]!.read(r, at());
      expect(Object.keys(final.reported).filter((k) => k.startsWith('k'))).toHaveLength(60);
      expect(final.version).toBe(61);
      expect((await outboxOf(r.deviceId)).sort((x, y) => x - y)).toEqual(Array.from({ length: 60 }, (_, i) => i));
    });
  }

  it('a new generation of the identity starts from a fresh twin even when the old one is remembered', async () => {
    const store = new TwinStore(pool, () => undefined);
    const id = uniqueName('gen');
    await report(store, ref(id, 'g1'), { old: 1 }, 1);
    const fresh = await report(store, ref(id, 'g2'), { now: 1 }, 2);
    expect(fresh.reported).toEqual({ now: 1 });
    expect(fresh.reportedVersion).toBe(2);
  });

  it('a write that throws fails alone and leaves the remembered state as it was', async () => {
    const store = new TwinStore(pool, () => undefined);
    const r = ref(uniqueName('throw'));
    await report(store, r, { a: 1 }, 1);
    const [bad, good] = await Promise.allSettled([
      store.modify(r, at(), (s) => {
        applyReported(s, { b: 1 }, at());
        throw new Error('no');
      }),
      report(store, r, { c: 1 }, 2),
    ]);
    expect(bad.status).toBe('rejected');
    expect(good.status).toBe('fulfilled');
    const s = await store.read(r, at());
    expect(s.reported).toEqual({ a: 1, c: 1 });
  });
});
