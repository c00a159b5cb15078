import type { messagingV1 } from '@openiothub/proto';
import type { ServiceAuthorizer } from '../../auth/service-auth.js';
import type { MessagingClient } from '../../upstream/messaging-client.js';
import type { Handler, RequestContext, Router } from '../router.js';

const groupJson = (g: messagingV1.ConsumerGroup) => ({ name: g.name, createdTime: (g.createdTime ?? new Date(0)).toISOString() });

/**
 * Consumer groups of the built-in endpoint (`events`), our REST form of IoT Hub's ARM resource
 * `eventHubEndpoints/events/ConsumerGroups/{name}`: list (RegistryRead or ServiceConnect),
 * create and delete (RegistryWrite). `$Default` always exists.
 */
export function registerEndpointRoutes(router: Router, deps: { messaging: MessagingClient; auth: ServiceAuthorizer }): void {
  const authorize = (ctx: RequestContext, write: boolean) =>
    deps.auth.authorizeRequest(ctx, write ? 'RegistryWrite' : ['RegistryRead', 'ServiceConnect']);
  const list: Handler = async (ctx) => {
    await authorize(ctx, false);
    return { status: 200, body: (await deps.messaging.listConsumerGroups({ hub: ctx.hub })).groups.map(groupJson) };
  };
  const create: Handler = async (ctx) => {
    await authorize(ctx, true);
    return { status: 200, body: groupJson(await deps.messaging.createConsumerGroup({ hub: ctx.hub, name: ctx.params['name'] as string })) };
  };
  const remove: Handler = async (ctx) => {
    await authorize(ctx, true);
    await deps.messaging.deleteConsumerGroup({ hub: ctx.hub, name: ctx.params['name'] as string });
    return { status: 204 };
  };
  for (const cg of ['consumerGroups', 'ConsumerGroups']) {
    router
      .on('GET', `/eventHubEndpoints/events/${cg}`, list)
      .on('PUT', `/eventHubEndpoints/events/${cg}/:name`, create)
      .on('DELETE', `/eventHubEndpoints/events/${cg}/:name`, remove);
  }
}
