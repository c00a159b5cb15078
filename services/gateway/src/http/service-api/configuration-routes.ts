import { ArgumentInvalidError } from '@openiothub/errors';
import type { Permission } from '@openiothub/auth';
import type { ServiceAuthorizer } from '../../auth/service-auth.js';
import type { TwinClient } from '../../upstream/twin-client.js';
import { readBody } from '../body.js';
import { ifMatchOf as ifMatch, type Handler, type RequestContext, type Router } from '../router.js';

/**
 * Automatic device configurations on the service REST API (sdk-compat §8.1): `PUT
 * /configurations/{id}` (no If-Match creates, If-Match updates), `GET /configurations/{id}`,
 * `GET /configurations[?top=n]`, `DELETE /configurations/{id}`, and `POST
 * /devices/{id}/applyConfigurationContent`. Reading needs RegistryRead, writing RegistryWrite.
 */
export function registerConfigurationRoutes(router: Router, deps: { twin: TwinClient; auth: ServiceAuthorizer; maxBodyBytes: number }): void {
  const { twin } = deps;
  const guarded =
    (permission: Permission, fn: Handler): Handler =>
    async (ctx) => {
      await deps.auth.authorizeRequest(ctx, permission);
      return fn(ctx);
    };
  const id = (ctx: RequestContext) => ctx.params['id'] as string;
  const body = async (ctx: RequestContext) => (await readBody(ctx.req, deps.maxBodyBytes)).toString('utf8');
  const reply = (r: { configurationJson: string }) => ({ status: 200, body: JSON.parse(r.configurationJson) as unknown });

  router
    .on(
      'GET',
      '/configurations',
      guarded('RegistryRead', async (ctx) => {
        const topRaw = ctx.query.get('top');
        const top = topRaw === null ? 0 : Number(topRaw);
        if (topRaw !== null && (!/^\d+$/.test(topRaw) || top < 1)) throw new ArgumentInvalidError('top must be a positive integer.');
        return { status: 200, body: JSON.parse((await twin.listConfigurations({ hub: ctx.hub, top })).itemsJson) as unknown };
      }),
    )
    .on('GET', '/configurations/:id', guarded('RegistryRead', async (ctx) => reply(await twin.getConfiguration({ hub: ctx.hub, id: id(ctx) }))))
    .on('PUT', '/configurations/:id', guarded('RegistryWrite', async (ctx) => reply(await twin.putConfiguration({ hub: ctx.hub, id: id(ctx), configurationJson: await body(ctx), ifMatch: ifMatch(ctx) }))))
    .on(
      'DELETE',
      '/configurations/:id',
      guarded('RegistryWrite', async (ctx) => {
        await twin.deleteConfiguration({ hub: ctx.hub, id: id(ctx), ifMatch: ifMatch(ctx) });
        return { status: 204 };
      }),
    )
    .on(
      'POST',
      '/devices/:deviceId/applyConfigurationContent',
      guarded('RegistryWrite', async (ctx) => {
        await twin.applyConfigurationContent({ hub: ctx.hub, deviceId: ctx.params['deviceId'] as string, contentJson: await body(ctx) });
        return { status: 204 };
      }),
    );
}
