import { connectClient, registryV1, type PromiseClient } from '@openiothub/proto';

export type RegistryClient = PromiseClient<registryV1.RegistryServiceClient>;

/** A promise-returning client of the registry service's gRPC API; `close()` releases the channel. */
export function createRegistryClient(url: string): RegistryClient & { close(): void } {
  return connectClient(registryV1.RegistryServiceClient, registryV1.RegistryServiceService, url);
}
