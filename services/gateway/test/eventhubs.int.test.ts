import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import type { Message, Sender } from 'rhea';
import { jetstreamManager } from '@nats-io/jetstream';
import { d2cStream, encodeD2C, ensureD2CStreams, openBus, subjects, LeanJetStreamPublisher, type NatsConnection } from '@openiothub/bus';
import { testContext, testUrls, uniqueName } from '@openiothub/testing';
import { EventHubsReader } from '../src/amqp/eventhubs.js';

const urls = testUrls();
const ctx = testContext('eventhubs-int');
const hub = uniqueName('ehint');
const ep = { partitions: 4, retentionDays: 2, createdAt: new Date() };
let nc: NatsConnection;

/** A stand-in for the receiver link: always has credit, records what is sent. */
function link(): { sender: Sender; sent: Message[] } {
  const sent: Message[] = [];
  const emitter = new EventEmitter();
  const sender = Object.assign(emitter, { local: { attach: { snd_settle_mode: 0 } }, sendable: () => true, send: (m: Message) => void sent.push(m) });
  return { sender: sender as unknown as Sender, sent };
}

const bodies = (ms: Message[]) => ms.map((m) => (m.body as { content: Buffer }).content.toString());
const seqOf = (m: Message) => Number((m.message_annotations as Record<string, { value?: unknown }>)['x-opt-sequence-number']!.value);

async function collect(reader: EventHubsReader, start: Parameters<EventHubsReader['read']>[2], n: number): Promise<Message[]> {
  const { sender, sent } = link();
  const stop = await reader.read(hub, 0, start, sender);
  for (let i = 0; i < 60 && sent.length < n; i++) await new Promise((r) => setTimeout(r, 50));
  stop();
  return sent;
}

beforeAll(async () => {
  nc = await openBus({ url: urls.natsUrl, name: 'eventhubs-int', streams: [], lifecycle: ctx.lifecycle });
  await ensureD2CStreams(nc, hub, ep.partitions, ep.retentionDays);
  const publisher = new LeanJetStreamPublisher(nc);
  for (const i of [1, 2, 3]) {
    const { headers, data } = encodeD2C({ body: Buffer.from(`m${i}`), systemProperties: { 'iothub-connection-device-id': 'd1', 'iothub-enqueuedtime': new Date().toISOString() }, applicationProperties: { i: String(i) } }, `${hub}-${i}`);
    await publisher.publish(subjects.d2c(hub, 0), data, headers);
  }
  publisher.close();
});

afterAll(async () => {
  const jsm = await jetstreamManager(nc);
  for (let p = 0; p < ep.partitions; p++) await jsm.streams.delete(d2cStream(hub, p).name).catch(() => undefined);
  await ctx[Symbol.asyncDispose]();
});

describe('Event Hubs reader over the partition streams', () => {
  it('numbers events 0, 1, 2 … per partition, and resumes after a sequence number', async () => {
    const reader = new EventHubsReader({ nc, log: ctx.log });
    expect(await reader.partitionProperties(hub, '0', ep)).toMatchObject({ is_partition_empty: false, partition: '0', last_enqueued_offset: '2' });
    expect(await reader.partitionProperties(hub, '1', ep)).toMatchObject({ is_partition_empty: true, last_enqueued_offset: '-1' });
    const all = await collect(reader, { kind: 'earliest' }, 3);
    expect(bodies(all)).toEqual(['m1', 'm2', 'm3']);
    expect(all.map(seqOf)).toEqual([0, 1, 2]);
    expect(all.map((m) => (m.message_annotations as Record<string, unknown>)['x-opt-offset'])).toEqual(['0', '1', '2']);
    expect(bodies(await collect(reader, { kind: 'after-seq', seq: 0, inclusive: false }, 2))).toEqual(['m2', 'm3']);
    expect(bodies(await collect(reader, { kind: 'after-seq', seq: 1, inclusive: true }, 2))).toEqual(['m2', 'm3']);
  });

  it('keeps exactly the hub retention and removes the old all-hubs stream', async () => {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(d2cStream(hub, 0).name);
    expect(info.config.max_age).toBe(2 * 86_400_000 * 1_000_000);
    expect(info.config.subjects).toEqual([subjects.d2c(hub, 0)]);
    await expect(jsm.streams.info('D2C')).rejects.toThrow();
  });

  it('refuses partitions outside the hub', () => {
    expect(() => EventHubsReader.partition('4', ep)).toThrow(/between 0 and 3/);
    expect(() => EventHubsReader.partition('x', ep)).toThrow(/between 0 and 3/);
    expect(EventHubsReader.partition('3', ep)).toBe(3);
  });
});
