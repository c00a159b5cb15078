import { grpc, promiseClient, twinV1, type PromiseClient } from '@openiothub/proto';

export type TwinClient = PromiseClient<twinV1.TwinServiceClient>;

/** A promise-returning client of the twin service's gRPC API; `close()` releases the channel. */
export function createTwinClient(url: string): TwinClient & { close(): void } {
  const raw = new twinV1.TwinServiceClient(url, grpc.credentials.createInsecure());
  return Object.assign(promiseClient(raw, twinV1.TwinServiceService), { close: () => raw.close() });
}
