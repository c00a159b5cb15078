import { afterEach, describe, expect, it } from 'vitest';
import { messagingV1, servePartial, unaryHandler } from '@openiothub/proto';
import { DomainError } from '@openiothub/errors';
import { createMessagingClient } from './messaging-client.js';

const stops: Array<() => void> = [];
afterEach(() => {
  for (const s of stops.splice(0)) s();
});
const key = (deviceId: string) => ({ hub: 'h', deviceId, moduleId: '' });
const LOST = 'aaaaaaaa-0000-4000-8000-000000000000';

describe('messaging client: C2D calls', () => {
  it('settle calls made together travel as one SettleBatch; a lost lock fails only its own call', async () => {
    const batches: number[] = [];
    const srv = await servePartial<messagingV1.MessagingServiceServer>(messagingV1.MessagingServiceService, {
      settleBatch: unaryHandler(async (req: messagingV1.SettleBatchRequest) => {
        batches.push(req.items.length);
        return { results: req.items.map((i) => (i.lockToken === LOST ? { error: { code: 'DeviceMessageLockLost', message: 'gone' } } : { response: { remaining: 3 } })) };
      }),
    });
    stops.push(srv.stop);
    const messaging = createMessagingClient(srv.url);
    stops.push(() => messaging.close());
    const complete = messagingV1.Outcome.OUTCOME_COMPLETE;
    const settled = await Promise.allSettled([
      messaging.settle({ key: key('a'), lockToken: 'bbbbbbbb-0000-4000-8000-000000000000', outcome: complete }),
      messaging.settle({ key: key('b'), lockToken: LOST, outcome: complete }),
    ]);
    expect(batches).toEqual([2]);
    expect(settled[0]).toMatchObject({ status: 'fulfilled', value: { remaining: 3 } });
    expect(settled[1]).toMatchObject({ status: 'rejected', reason: { code: 'DeviceMessageLockLost' } });
  });

  it('falls back to Send / Receive one by one against a messaging service without the batch calls', async () => {
    const calls: string[] = [];
    const srv = await servePartial<messagingV1.MessagingServiceServer>(messagingV1.MessagingServiceService, {
      send: unaryHandler(async (req: messagingV1.SendRequest) => {
        calls.push(`send ${req.key!.deviceId}`);
        if (req.key!.deviceId === 'full') throw new DomainError('DeviceMaximumQueueDepthExceeded', 'full');
        return { messageId: req.message!.messageId, sequenceNumber: 7 };
      }),
      receive: unaryHandler(async (req: messagingV1.ReceiveRequest) => {
        calls.push(`receive ${req.key!.deviceId}`);
        return { retryAfterMs: 5 };
      }),
    });
    stops.push(srv.stop);
    const messaging = createMessagingClient(srv.url);
    stops.push(() => messaging.close());
    const msg = (messageId: string) => messagingV1.C2DMessage.fromPartial({ body: Buffer.from('x'), messageId });
    const sent = await Promise.allSettled([messaging.send({ key: key('a'), message: msg('m1') }), messaging.send({ key: key('full'), message: msg('m2') })]);
    expect(sent[0]).toMatchObject({ status: 'fulfilled', value: { messageId: 'm1', sequenceNumber: 7 } });
    expect(sent[1]).toMatchObject({ status: 'rejected', reason: { code: 'DeviceMaximumQueueDepthExceeded' } });
    await expect(messaging.receive({ key: key('a'), generationId: 'g' })).resolves.toMatchObject({ retryAfterMs: 5 });
    expect(calls.sort()).toEqual(['receive a', 'send a', 'send full']);
  });

  it('asks for a send to an idle receiver in this process to come back locked, and hands it over; a busy one is not asked', async () => {
    const asked: string[] = [];
    const srv = await servePartial<messagingV1.MessagingServiceServer>(messagingV1.MessagingServiceService, {
      sendBatch: unaryHandler(async (req: messagingV1.SendBatchRequest) => ({
        results: req.items.map((i) => {
          asked.push(`${i.key!.deviceId}:${i.holderGenerationId ?? ''}`);
          if (i.key!.deviceId === 'broken') return { error: { code: 'ServiceUnavailable', message: 'down' } };
          const locked = i.holderGenerationId ? { locked: { ...i.message!, lockToken: LOST, deliveryCount: 1 } } : {};
          return { response: { messageId: i.message!.messageId, sequenceNumber: 1, ...locked } };
        }),
      })),
    });
    stops.push(srv.stop);
    const offered: string[] = [];
    const kicked: string[] = [];
    const receiver = (deviceId: string, idle: boolean) => ({ idle, generationId: `g-${deviceId}`, offer: (m: messagingV1.C2DMessage) => offered.push(`${deviceId}:${m.messageId}`), kick: () => kicked.push(deviceId) });
    const receivers = new Map([['idle', receiver('idle', true)], ['busy', receiver('busy', false)], ['broken', receiver('broken', true)]]);
    const messaging = createMessagingClient(srv.url, (k) => receivers.get(k.deviceId));
    stops.push(() => messaging.close());
    const msg = (messageId: string) => messagingV1.C2DMessage.fromPartial({ body: Buffer.from('x'), messageId });

    const r = await messaging.send({ key: key('idle'), message: msg('m1') });
    expect(r).toEqual({ messageId: 'm1', sequenceNumber: 1 }); // the caller's answer as always
    expect(offered).toEqual(['idle:m1']);
    await messaging.send({ key: key('busy'), message: msg('m2') });
    await messaging.send({ key: key('elsewhere'), message: msg('m3') });
    // a failed send may have locked a message: the receiver looks for itself
    await expect(messaging.send({ key: key('broken'), message: msg('m4') })).rejects.toMatchObject({ code: 'ServiceUnavailable' });
    expect(asked).toEqual(['idle:g-idle', 'busy:', 'elsewhere:', 'broken:g-broken']);
    expect(offered).toEqual(['idle:m1']);
    expect(kicked).toEqual(['broken']);
  });
});
