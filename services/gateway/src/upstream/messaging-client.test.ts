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
});
