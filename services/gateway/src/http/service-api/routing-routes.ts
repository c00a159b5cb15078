import type { ServiceAuthorizer } from '../../auth/service-auth.js';
import type { RoutingClient } from '../../upstream/routing-client.js';
import { readBody } from '../body.js';
import { ifMatchOf, type Handler, type RequestContext, type Router } from '../router.js';

/**
 * Message routing configuration, our REST form of IoT Hub's ARM resource (devguide §4):
 * - `GET|PUT /settings/routing`: the whole `properties.routing` document (endpoints, routes,
 *   fallbackRoute, enrichments), with an `ETag`; PUT honours `If-Match`. Takes effect without restarts.
 * - `POST /settings/routing/routes/$testnew` and `/$testall`: test one route / all routes
 *   against a sample message (nothing is routed).
 * - `GET /settings/routing/endpointsHealth`: healthy / unhealthy / dead / unknown per custom endpoint.
 * - `GET|PUT /settings/eventSubscriptions`: Event Grid-style webhook subscriptions.
 * Reading needs RegistryRead or ServiceConnect; changing RegistryWrite.
 */
export function registerRoutingRoutes(router: Router, deps: { routing: RoutingClient; auth: ServiceAuthorizer; maxBodyBytes: number }): void {
  const { routing } = deps;
  const authorize = (ctx: RequestContext, write: boolean) =>
    deps.auth.authorizeRequest(ctx, write ? 'RegistryWrite' : ['RegistryRead', 'ServiceConnect']);
  const body = async (ctx: RequestContext) => (await readBody(ctx.req, deps.maxBodyBytes)).toString('utf8');
  const json = (text: string) => JSON.parse(text) as unknown;

  const get: Handler = async (ctx) => {
    await authorize(ctx, false);
    const r = await routing.getRouting({ hub: ctx.hub });
    return { status: 200, body: json(r.routingJson), headers: r.etag ? { etag: `"${r.etag}"` } : undefined };
  };
  const put: Handler = async (ctx) => {
    await authorize(ctx, true);
    const r = await routing.putRouting({ hub: ctx.hub, routingJson: await body(ctx), ifMatch: ifMatchOf(ctx) ?? '' });
    return { status: 200, body: json(r.routingJson), headers: { etag: `"${r.etag}"` } };
  };
  const test =
    (all: boolean): Handler =>
    async (ctx) => {
      await authorize(ctx, false);
      const req = { hub: ctx.hub, requestJson: await body(ctx) };
      return { status: 200, body: json((all ? await routing.testAllRoutes(req) : await routing.testRoute(req)).json) };
    };
  const health: Handler = async (ctx) => {
    await authorize(ctx, false);
    return { status: 200, body: json((await routing.getEndpointHealth({ hub: ctx.hub })).json) };
  };
  const getSubs: Handler = async (ctx) => {
    await authorize(ctx, false);
    return { status: 200, body: json((await routing.getEventSubscriptions({ hub: ctx.hub })).json) };
  };
  const putSubs: Handler = async (ctx) => {
    await authorize(ctx, true);
    return { status: 200, body: json((await routing.putEventSubscriptions({ hub: ctx.hub, json: await body(ctx) })).json) };
  };

  router
    .on('GET', '/settings/routing', get)
    .on('PUT', '/settings/routing', put)
    .on('POST', '/settings/routing/routes/$testnew', test(false))
    .on('POST', '/settings/routing/routes/$testall', test(true))
    .on('GET', '/settings/routing/endpointsHealth', health)
    .on('GET', '/settings/eventSubscriptions', getSubs)
    .on('PUT', '/settings/eventSubscriptions', putSubs);
}
