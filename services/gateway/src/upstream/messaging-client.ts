import { domainErrorFromCode } from '@openiothub/errors';
import { batchedCall, connectClient, messagingV1, type PromiseClient } from '@openiothub/proto';

export type MessagingClient = PromiseClient<messagingV1.MessagingServiceClient>;

type Result<Res> = { response?: Res | undefined; error?: { code: string; message: string } | undefined };
const unwrap = <Res>(results: Array<Result<Res>>) => results.map((r) => (r.error ? domainErrorFromCode(r.error.code, r.error.message) : r.response!));

/**
 * A promise-returning client of the messaging service's gRPC API; `close()` releases the channel.
 * The three calls of every C2D message — send, receive (lock), settle — travel batched
 * (`SendBatch`, `ReceiveBatch`, `SettleBatch`): alone when the messaging service keeps up,
 * together when it does not; one by one against a messaging service without them (an older
 * version during a rolling upgrade).
 */
export function createMessagingClient(url: string): MessagingClient & { close(): void } {
  const client = connectClient(messagingV1.MessagingServiceClient, messagingV1.MessagingServiceService, url);
  const send = batchedCall(async (items: messagingV1.SendRequest[]) => unwrap((await client.sendBatch({ items })).results), client.send);
  const receive = batchedCall(async (items: messagingV1.ReceiveRequest[]) => unwrap((await client.receiveBatch({ items })).results), client.receive);
  const settle = batchedCall(async (items: messagingV1.SettleRequest[]) => unwrap((await client.settleBatch({ items })).results), client.settle);
  return Object.assign(client, { send, receive, settle });
}
