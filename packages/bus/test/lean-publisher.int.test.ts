import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { testUrls, uniqueName } from '@openiothub/testing';
import { connectNats, decodeD2C, encodeD2C, jetStreamOutboxPublisher, LeanJetStreamPublisher, type NatsConnection } from '../src/index.js';

let nc: NatsConnection;
const stream = uniqueName('LEAN').toUpperCase();
const subject = `${stream.toLowerCase()}.x`;

beforeAll(async () => {
  nc = await connectNats(testUrls().natsUrl, 'lean-test');
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [`${stream.toLowerCase()}.>`], duplicate_window: 60_000_000_000 });
});

afterAll(async () => {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(stream).catch(() => undefined);
  await nc.close();
});

describe('LeanJetStreamPublisher', () => {
  it('stores every message, answers in order, and recognises duplicates by Nats-Msg-Id', async () => {
    const pub = new LeanJetStreamPublisher(nc);
    const acks = await Promise.all(
      Array.from({ length: 500 }, (_, i) => {
        const { headers, data } = encodeD2C({ body: new TextEncoder().encode(`m${i}`), systemProperties: { 'message-id': `id-${i}` }, applicationProperties: { i: String(i) } }, `id-${i}`);
        return pub.publish(subject, data, headers);
      }),
    );
    expect(acks.map((a) => a.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    const again = encodeD2C({ body: new Uint8Array(), systemProperties: {}, applicationProperties: {} }, 'id-7');
    expect(await pub.publish(subject, again.data, again.headers)).toMatchObject({ seq: 8, duplicate: true });
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info(stream)).state.messages).toBe(500);
    const stored = await jsm.streams.getMessage(stream, { seq: 3 });
    const msg = decodeD2C(stored!.header, stored!.data);
    expect(new TextDecoder().decode(msg.body)).toBe('m2');
    expect(msg.applicationProperties).toEqual({ i: '2' });
    pub.close();
  });

  it('rejects when no stream captures the subject', async () => {
    const pub = new LeanJetStreamPublisher(nc);
    await expect(pub.publish(`nostream-${uniqueName('x')}.y`, new Uint8Array([1]))).rejects.toThrow(/no stream/);
    pub.close();
  });

  it('the outbox publisher keeps the headers and stores an event once, however often the relay repeats it', async () => {
    const publish = jetStreamOutboxPublisher(nc);
    const jsm = await jetstreamManager(nc);
    const before = (await jsm.streams.info(stream)).state.messages;
    const eventId = `evt-${uniqueName('o')}`;
    const first = (await publish(`${stream.toLowerCase()}.outbox`, { 'x-kind': 'twin' }, Buffer.from('e1'), eventId)) as { seq: number; duplicate: boolean };
    const repeat = (await publish(`${stream.toLowerCase()}.outbox`, { 'x-kind': 'twin' }, Buffer.from('e1'), eventId)) as { seq: number; duplicate: boolean };
    expect(first.duplicate).toBe(false);
    expect(repeat).toMatchObject({ seq: first.seq, duplicate: true });
    expect((await jsm.streams.info(stream)).state.messages).toBe(before + 1);
    const stored = await jsm.streams.getMessage(stream, { seq: first.seq });
    expect(stored!.header.get('x-kind')).toBe('twin');
    expect(new TextDecoder().decode(stored!.data)).toBe('e1');
  });
});
