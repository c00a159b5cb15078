import { batchedCall, connectClient, itemsOf, messagingV1, type PromiseClient } from '@openiothub/proto';

export type MessagingClient = PromiseClient<messagingV1.MessagingServiceClient>;

/**
 * A promise-returning client of the messaging service's gRPC API; `close()` releases the channel.
 * The three calls of every C2D message — send, receive (lock), settle — travel batched
 * (`SendBatch`, `ReceiveBatch`, `SettleBatch`): alone when the messaging service keeps up,
 * together when it does not; one by one against a messaging service without them (an older
 * version during a rolling upgrade).
 */
export function createMessagingClient(url: string): MessagingClient & { close(): void } {
  const client = connectClient(messagingV1.MessagingServiceClient, messagingV1.MessagingServiceService, url);
  const send = batchedCall(async (items: messagingV1.SendRequest[]) => itemsOf((await client.sendBatch({ items })).results, (r) => r.response!), client.send);
  const receive = batchedCall(async (items: messagingV1.ReceiveRequest[]) => itemsOf((await client.receiveBatch({ items })).results, (r) => r.response!), client.receive);
  const settle = batchedCall(async (items: messagingV1.SettleRequest[]) => itemsOf((await client.settleBatch({ items })).results, (r) => r.response!), client.settle);
  return Object.assign(client, { send, receive, settle });
}
