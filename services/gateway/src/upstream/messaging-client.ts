import { batchedCall, connectClient, itemsOf, messagingV1, type PromiseClient } from '@openiothub/proto';

export type MessagingClient = PromiseClient<messagingV1.MessagingServiceClient>;

/** A C2D delivery in this process (the pump of a connected device or module). */
export interface LocalC2DReceiver {
  readonly idle: boolean;
  readonly generationId: string;
  offer(m: messagingV1.C2DMessage): void;
  kick(): void;
}

/**
 * A promise-returning client of the messaging service's gRPC API; `close()` releases the channel.
 * The three calls of every C2D message — send, receive (lock), settle — travel batched
 * (`SendBatch`, `ReceiveBatch`, `SettleBatch`): alone when the messaging service keeps up,
 * together when it does not; one by one against a messaging service without them (an older
 * version during a rolling upgrade).
 *
 * `localReceiver` finds the C2D delivery of an identity this process holds: when it is idle, a
 * send asks for the message locked for it (`holderGenerationId`) and hands it over — no nudge
 * and no receive call. A messaging service without that field enqueues and nudges as before.
 */
export function createMessagingClient(url: string, localReceiver?: (key: messagingV1.QueueKey) => LocalC2DReceiver | undefined): MessagingClient & { close(): void } {
  const client = connectClient(messagingV1.MessagingServiceClient, messagingV1.MessagingServiceService, url);
  const sendOne = batchedCall<messagingV1.SendRequest, messagingV1.SendResponse>(async (items: messagingV1.SendRequest[]) => itemsOf((await client.sendBatch({ items })).results, (r) => r.response!), client.send);
  const send = async (req: messagingV1.SendRequest): Promise<messagingV1.SendResponse> => {
    const receiver = req.key && localReceiver?.(req.key);
    if (!receiver?.idle) return sendOne(req);
    let answer: messagingV1.SendResponse;
    try {
      answer = await sendOne({ ...req, holderGenerationId: receiver.generationId });
    } catch (err) {
      // the send may have locked a message whose answer was lost: the receiver then waits for
      // that lock to expire (as after a failed receive) instead of for a nudge that never comes
      receiver.kick();
      throw err;
    }
    const { locked, ...r } = answer;
    if (locked) receiver.offer(locked);
    return r;
  };
  const receive = batchedCall(async (items: messagingV1.ReceiveRequest[]) => itemsOf((await client.receiveBatch({ items })).results, (r) => r.response!), client.receive);
  const settle = batchedCall(async (items: messagingV1.SettleRequest[]) => itemsOf((await client.settleBatch({ items })).results, (r) => r.response!), client.settle);
  return Object.assign(client, { send, receive, settle });
}
