import { connectClient, twinV1, type PromiseClient } from '@openiothub/proto';

export type TwinClient = PromiseClient<twinV1.TwinServiceClient>;

/** A promise-returning client of the twin service's gRPC API; `close()` releases the channel. */
export function createTwinClient(url: string): TwinClient & { close(): void } {
  return connectClient(twinV1.TwinServiceClient, twinV1.TwinServiceService, url);
}
