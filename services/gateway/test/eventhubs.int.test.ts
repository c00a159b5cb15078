import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import type { Message, Sender } from 'rhea';
import { encodeD2C, openBus, subjects, LeanJetStreamPublisher, type NatsConnection } from '@openiothub/bus';
import { testContext, testUrls, uniqueName } from '@openiothub/testing';
import { EventHubsReader } from '../src/amqp/eventhubs.js';

const urls = testUrls();
const ctx = testContext('eventhubs-int');
const hub = uniqueName('ehint');
const ep = { partitions: 4, retentionDays: 1, createdAt: new Date() };
let nc: NatsConnection;

/** A stand-in for the receiver link: always has credit, records what is sent. */
function link(): { sender: Sender; sent: Message[] } {
  const sent: Message[] = [];
  const emitter = new EventEmitter();
  const sender = Object.assign(emitter, { local: { attach: { snd_settle_mode: 0 } }, sendable: () => true, send: (m: Message) => void sent.push(m) });
  return { sender: sender as unknown as Sender, sent };
}

beforeAll(async () => {
  nc = await openBus({ url: urls.natsUrl, name: 'eventhubs-int', streams: ['D2C'], lifecycle: ctx.lifecycle });
  const publisher = new LeanJetStreamPublisher(nc);
  for (const i of [1, 2, 3]) {
    const { headers, data } = encodeD2C({ body: Buffer.from(`m${i}`), systemProperties: { 'iothub-connection-device-id': 'd1', 'iothub-enqueuedtime': new Date().toISOString() }, applicationProperties: { i: String(i) } }, `${hub}-${i}`);
    await publisher.publish(subjects.d2c(hub, 0), data, headers);
  }
  publisher.close();
});

afterAll(async () => {
  await ctx[Symbol.asyncDispose]();
});

describe('Event Hubs reader over the D2C stream', () => {
  it('serves a partition from the start of retention, with sequence numbers and offsets that resume', async () => {
    const reader = new EventHubsReader({ nc, log: ctx.log });
    const props = await reader.partitionProperties(hub, '0', ep);
    expect(props).toMatchObject({ is_partition_empty: false, partition: '0' });
    const { sender, sent } = link();
    const stop = await reader.read(hub, 0, { kind: 'earliest' }, sender, ep);
    for (let i = 0; i < 50 && sent.length < 3; i++) await new Promise((r) => setTimeout(r, 50));
    stop();
    expect(sent.map((m) => (m.body as { content: Buffer }).content.toString())).toEqual(['m1', 'm2', 'm3']);
    const seqs = sent.map((m) => Number((m.message_annotations as Record<string, { value?: unknown }>)['x-opt-sequence-number']!.value ?? 0));
    expect(seqs[0]).toBeLessThan(seqs[1]!);
    // from the first one's offset, exclusive: the other two
    const again = link();
    const offset = Number((sent[0]!.message_annotations as Record<string, unknown>)['x-opt-offset']);
    const stop2 = await reader.read(hub, 0, { kind: 'after-seq', seq: offset, inclusive: false }, again.sender, ep);
    for (let i = 0; i < 50 && again.sent.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    stop2();
    expect(again.sent.map((m) => (m.body as { content: Buffer }).content.toString())).toEqual(['m2', 'm3']);
  });

  it('serves nothing older than the hub retention (clock two days ahead)', async () => {
    const later = new EventHubsReader({ nc, log: ctx.log, now: () => Date.now() + 2 * 86_400_000 });
    expect(await later.partitionProperties(hub, '0', ep)).toMatchObject({ is_partition_empty: true, last_enqueued_offset: '-1' });
    const { sender, sent } = link();
    const stop = await later.read(hub, 0, { kind: 'after-seq', seq: 1, inclusive: true }, sender, ep);
    await new Promise((r) => setTimeout(r, 500));
    stop();
    expect(sent).toEqual([]);
    // a week of retention still covers them
    expect(await later.partitionProperties(hub, '0', { ...ep, retentionDays: 7 })).toMatchObject({ is_partition_empty: false });
  });

  it('refuses partitions outside the hub', () => {
    expect(() => EventHubsReader.partition('4', ep)).toThrow(/between 0 and 3/);
    expect(() => EventHubsReader.partition('x', ep)).toThrow(/between 0 and 3/);
    expect(EventHubsReader.partition('3', ep)).toBe(3);
  });
});
