import { ArgumentInvalidError } from '@openiothub/errors';
import type { ServiceAuthorizer } from '../../auth/service-auth.js';
import type { RegistryClient } from '../../upstream/registry-client.js';
import { parseJson, readBody } from '../body.js';
import { ifMatchOf, type Router } from '../router.js';

/**
 * The hub's IP filter (protocols-ops §8): `GET|PUT /settings/ipFilter` with `{ipFilterRules:
 * [{filterName, action, ipMask}]}` (ARM's `properties.ipFilterRules`), ETag / If-Match. Changes
 * apply to new connections and requests at once, on every gateway.
 */
export function registerIpFilterRoutes(router: Router, deps: { registry: RegistryClient; auth: ServiceAuthorizer; maxBodyBytes: number }): void {
  const reply = (r: { rulesJson: string; etag: string }) => ({ status: 200, body: { ipFilterRules: JSON.parse(r.rulesJson) as unknown, etag: r.etag }, headers: { etag: r.etag } });
  router
    .on('GET', '/settings/ipFilter', async (ctx) => {
      await deps.auth.authorize({ hub: ctx.hub, authorization: ctx.req.headers.authorization, path: ctx.segments, permission: 'RegistryRead' });
      return reply(await deps.registry.getIpFilter({ hub: ctx.hub }));
    })
    .on('PUT', '/settings/ipFilter', async (ctx) => {
      await deps.auth.authorize({ hub: ctx.hub, authorization: ctx.req.headers.authorization, path: ctx.segments, permission: 'RegistryWrite' });
      const body = parseJson(await readBody(ctx.req, deps.maxBodyBytes)) as { ipFilterRules?: unknown } | null;
      if (typeof body !== 'object' || body === null || !('ipFilterRules' in body)) throw new ArgumentInvalidError('The body must be {"ipFilterRules": [{"filterName", "action", "ipMask"}, …]}.');
      return reply(await deps.registry.putIpFilter({ hub: ctx.hub, rulesJson: JSON.stringify(body.ipFilterRules), ifMatch: ifMatchOf(ctx) }));
    });
}
