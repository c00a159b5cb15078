import { describe, expect, it } from 'vitest';
import { CallBatcher } from './call-batcher.js';

/** A send whose batches the test answers by hand. */
function manual() {
  const batches: Array<{ items: number[]; answer: (r: Array<number | Error>) => void; fail: (e: Error) => void }> = [];
  const send = (items: number[]) => new Promise<Array<number | Error>>((answer, fail) => batches.push({ items, answer, fail }));
  return { batches, send };
}
const tick = () => new Promise((r) => setImmediate(r));

describe('CallBatcher', () => {
  it('sends a lone call at once, then groups what arrives while the batches in flight run, in order', async () => {
    const { batches, send } = manual();
    const b = new CallBatcher(send, { maxInFlight: 1 });
    const first = b.call(1);
    await tick();
    expect(batches.map((x) => x.items)).toEqual([[1]]);
    const rest = [2, 3, 4].map((n) => b.call(n));
    await tick();
    expect(batches).toHaveLength(1); // the one in flight is still running
    batches[0]!.answer([10]);
    expect(await first).toBe(10);
    await tick();
    expect(batches.map((x) => x.items)).toEqual([[1], [2, 3, 4]]);
    batches[1]!.answer([20, 30, 40]);
    expect(await Promise.all(rest)).toEqual([20, 30, 40]);
  });

  it('fails an item answered with an error alone, a failed batch as a whole, and goes on', async () => {
    const { batches, send } = manual();
    const b = new CallBatcher(send, { maxInFlight: 1 });
    const [a, bad, c] = [1, 2, 3].map((n) => b.call(n));
    await tick();
    batches[0]!.answer([1, new Error('bad item'), 3]);
    await expect(a).resolves.toBe(1);
    await expect(bad).rejects.toThrow('bad item');
    await expect(c).resolves.toBe(3);
    const d = b.call(4);
    await tick();
    batches[1]!.fail(new Error('unavailable'));
    await expect(d).rejects.toThrow('unavailable');
    const e = b.call(5);
    await tick();
    batches[2]!.answer([50]);
    await expect(e).resolves.toBe(50);
  });

  it('keeps batches within maxBatch and runs up to maxInFlight of them at once', async () => {
    const { batches, send } = manual();
    const b = new CallBatcher(send, { maxInFlight: 2, maxBatch: 3 });
    const all = Array.from({ length: 8 }, (_, i) => b.call(i));
    await tick();
    expect(batches.map((x) => x.items)).toEqual([[0, 1, 2], [3, 4, 5]]);
    batches[0]!.answer([0, 1, 2]);
    await tick();
    expect(batches.map((x) => x.items)).toEqual([[0, 1, 2], [3, 4, 5], [6, 7]]);
    batches[1]!.answer([3, 4, 5]);
    batches[2]!.answer([6]); // one answer short
    const settled = await Promise.allSettled(all);
    expect(settled.slice(0, 7).map((s) => (s.status === 'fulfilled' ? s.value : 'x'))).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(settled[7]).toMatchObject({ status: 'rejected' });
  });
});
