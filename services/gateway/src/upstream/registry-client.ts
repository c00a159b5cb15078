import { grpc, promiseClient, registryV1, type PromiseClient } from '@openiothub/proto';

export type RegistryClient = PromiseClient<registryV1.RegistryServiceClient>;

/** A promise-returning client of the registry's gRPC API; `close()` releases the channel. */
export function createRegistryClient(url: string): RegistryClient & { close(): void } {
  const raw = new registryV1.RegistryServiceClient(url, grpc.credentials.createInsecure());
  return Object.assign(promiseClient(raw, registryV1.RegistryServiceService), { close: () => raw.close() });
}
