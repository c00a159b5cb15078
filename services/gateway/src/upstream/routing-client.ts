import { connectClient, routingV1, type PromiseClient } from '@openiothub/proto';

export type RoutingClient = PromiseClient<routingV1.RoutingServiceClient>;

/** A promise-returning client of the routing service's gRPC API; `close()` releases the channel. */
export function createRoutingClient(url: string): RoutingClient & { close(): void } {
  return connectClient(routingV1.RoutingServiceClient, routingV1.RoutingServiceService, url);
}
