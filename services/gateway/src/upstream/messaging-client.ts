import { grpc, messagingV1, promiseClient, type PromiseClient } from '@openiothub/proto';

export type MessagingClient = PromiseClient<messagingV1.MessagingServiceClient>;

/** A promise-returning client of the messaging service's gRPC API; `close()` releases the channel. */
export function createMessagingClient(url: string): MessagingClient & { close(): void } {
  const raw = new messagingV1.MessagingServiceClient(url, grpc.credentials.createInsecure());
  return Object.assign(promiseClient(raw, messagingV1.MessagingServiceService), { close: () => raw.close() });
}
