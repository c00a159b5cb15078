import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connectNats, LeanJetStreamPublisher } from '@openiothub/bus';
import { urls } from './harness.js';

/**
 * Raw JetStream baselines measured in the same run as a benchmark (spec/baselines.md): `messages`
 * publishes of `payload` to a fresh stream, 256 in flight, with the official client and with the
 * lean publisher the gateway uses.
 */
export async function jetStreamBaselines(messages: number, payload: Buffer): Promise<Array<{ path: string; 'msg/s': number }>> {
  const nc = await connectNats(urls.natsUrl, 'bench-baseline');
  const jsm = await jetstreamManager(nc);
  const stream = `BENCH_${Date.now()}`;
  await jsm.streams.add({ name: stream, subjects: [`${stream.toLowerCase()}.>`] });
  const run = async (label: string, publish: (i: number) => Promise<unknown>) => {
    const window = 256;
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: window }, async () => {
        while (next < messages) {
          const i = next++;
          await publish(i);
        }
      }),
    );
    const s = (performance.now() - t0) / 1000;
    return { path: label, 'msg/s': Math.round(messages / s) };
  };
  const js = jetstream(nc);
  const official = await run('raw JetStream, official js.publish, 256 in flight', (i) => js.publish(`${stream.toLowerCase()}.a`, payload, { msgID: `a${i}` }));
  const lean = new LeanJetStreamPublisher(nc);
  const leanRow = await run('raw JetStream, lean publisher, 256 in flight', () => lean.publish(`${stream.toLowerCase()}.b`, payload));
  lean.close();
  await jsm.streams.delete(stream);
  await nc.close();
  return [official, leanRow];
}
