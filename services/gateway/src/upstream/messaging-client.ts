import { connectClient, messagingV1, type PromiseClient } from '@openiothub/proto';

export type MessagingClient = PromiseClient<messagingV1.MessagingServiceClient>;

/** A promise-returning client of the messaging service's gRPC API; `close()` releases the channel. */
export function createMessagingClient(url: string): MessagingClient & { close(): void } {
  return connectClient(messagingV1.MessagingServiceClient, messagingV1.MessagingServiceService, url);
}
