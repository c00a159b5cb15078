import { ArgumentInvalidError } from '@openiothub/errors';
import type { ServiceAuthorizer } from '../../auth/service-auth.js';
import type { RegistryClient } from '../../upstream/registry-client.js';
import type { Throttle } from '../../throttle/throttle.js';
import { parseJson, readBody } from '../body.js';
import { ifMatchOf, type Router } from '../router.js';

/** Devices per hub (devguide §17). */
const MAX_DEVICES = 1_000_000;

/**
 * What the gateway enforces for a hub, as settings: the SKU (throttles, `GET|PUT /settings/sku`)
 * and the IP filter (protocols-ops §8): `GET|PUT /settings/ipFilter` with `{ipFilterRules:
 * [{filterName, action, ipMask}]}` (ARM's `properties.ipFilterRules`), ETag / If-Match. Changes
 * apply to new connections and requests at once, on every gateway.
 */
export function registerHubSettingsRoutes(router: Router, deps: { registry: RegistryClient; auth: ServiceAuthorizer; throttle: Throttle; maxBodyBytes: number }): void {
  const reply = (r: { rulesJson: string; etag: string }) => ({ status: 200, body: { ipFilterRules: JSON.parse(r.rulesJson) as unknown, etag: r.etag }, headers: { etag: r.etag } });
  router
    .on('GET', '/settings/ipFilter', async (ctx) => {
      await deps.auth.authorizeRequest(ctx, 'RegistryRead');
      return reply(await deps.registry.getIpFilter({ hub: ctx.hub }));
    })
    // the hub's SKU (ARM `sku: {name, capacity}`): the throttles of the quota table; "unlimited" by default
    .on('GET', '/settings/sku', async (ctx) => {
      await deps.auth.authorizeRequest(ctx, 'RegistryRead');
      const hub = (await deps.registry.getHub({ hub: ctx.hub })).hub!;
      return { status: 200, body: { name: hub.skuName, capacity: hub.skuUnits } };
    })
    // ARM's quotaMetrics (`az iot hub show-quota-metrics`): messages metered today (UTC) against the daily quota, devices against the hub's limit
    .on('GET', '/settings/quotaMetrics', async (ctx) => {
      await deps.auth.authorizeRequest(ctx, 'RegistryRead');
      const [usage, stats] = await Promise.all([deps.throttle.usage(ctx.hub), deps.registry.getStatistics({ hub: ctx.hub })]);
      return {
        status: 200,
        body: {
          value: [
            { name: 'TotalMessages', currentValue: usage.used, maxValue: usage.max ?? null },
            { name: 'TotalDeviceCount', currentValue: stats.totalDeviceCount, maxValue: MAX_DEVICES },
          ],
        },
      };
    })
    .on('PUT', '/settings/sku', async (ctx) => {
      await deps.auth.authorizeRequest(ctx, 'RegistryWrite');
      const body = parseJson(await readBody(ctx.req, deps.maxBodyBytes)) as { name?: unknown; capacity?: unknown } | null;
      if (typeof body?.name !== 'string') throw new ArgumentInvalidError('The body must be {"name": "S1", "capacity": 1}.');
      const hub = (await deps.registry.putSku({ hub: ctx.hub, skuName: body.name, skuUnits: typeof body.capacity === 'number' ? body.capacity : 1 })).hub!;
      return { status: 200, body: { name: hub.skuName, capacity: hub.skuUnits } };
    })
    .on('PUT', '/settings/ipFilter', async (ctx) => {
      await deps.auth.authorizeRequest(ctx, 'RegistryWrite');
      const body = parseJson(await readBody(ctx.req, deps.maxBodyBytes)) as { ipFilterRules?: unknown } | null;
      if (typeof body !== 'object' || body === null || !('ipFilterRules' in body)) throw new ArgumentInvalidError('The body must be {"ipFilterRules": [{"filterName", "action", "ipMask"}, …]}.');
      return reply(await deps.registry.putIpFilter({ hub: ctx.hub, rulesJson: JSON.stringify(body.ipFilterRules), ifMatch: ifMatchOf(ctx) }));
    });
}
