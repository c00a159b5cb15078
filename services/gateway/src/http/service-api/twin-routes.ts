import { JSON_CONTENT_TYPE } from '@openiothub/errors';
import type { ServiceAuthorizer } from '../../auth/service-auth.js';
import type { TwinClient } from '../../upstream/twin-client.js';
import { readBody } from '../body.js';
import { ifMatchOf as ifMatch, type Handler, type RequestContext, type Router } from '../router.js';

/**
 * Twins on the service REST API (sdk-compat §8.1): GET, PATCH (merge tags and desired), PUT
 * (replace) for devices and modules; If-Match with the twin etag; the full twin in every answer.
 * Reading needs RegistryRead or ServiceConnect, writing ServiceConnect.
 */
export function registerTwinRoutes(router: Router, deps: { twin: TwinClient; auth: ServiceAuthorizer; maxBodyBytes: number }): void {
  const keyOf = (ctx: RequestContext) => ({ hub: ctx.hub, deviceId: ctx.params['deviceId'] as string, moduleId: ctx.params['moduleId'] ?? '' });
  const authorize = (ctx: RequestContext, permission: 'RegistryRead' | 'ServiceConnect') =>
    deps.auth.authorizeRequest(ctx, permission === 'RegistryRead' ? ['RegistryRead', 'ServiceConnect'] : 'ServiceConnect');
  // the twin service's JSON goes out as it came: no parse and re-serialize per request
  const reply = (r: { twinJson: string; etag: string }) => ({ status: 200, raw: Buffer.from(r.twinJson, 'utf8'), headers: { etag: `"${r.etag}"`, 'content-type': JSON_CONTENT_TYPE } });

  const get: Handler = async (ctx) => {
    await authorize(ctx, 'RegistryRead');
    return reply(await deps.twin.getTwin({ key: keyOf(ctx) }));
  };
  const patch: Handler = async (ctx) => {
    await authorize(ctx, 'ServiceConnect');
    const body = (await readBody(ctx.req, deps.maxBodyBytes)).toString('utf8');
    return reply(await deps.twin.updateTwin({ key: keyOf(ctx), patchJson: body, ifMatch: ifMatch(ctx) }));
  };
  const put: Handler = async (ctx) => {
    await authorize(ctx, 'ServiceConnect');
    const body = (await readBody(ctx.req, deps.maxBodyBytes)).toString('utf8');
    return reply(await deps.twin.replaceTwin({ key: keyOf(ctx), twinJson: body, ifMatch: ifMatch(ctx) }));
  };
  for (const path of ['/twins/:deviceId', '/twins/:deviceId/modules/:moduleId']) router.on('GET', path, get).on('PATCH', path, patch).on('PUT', path, put);
}
