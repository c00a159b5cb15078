import { ArgumentInvalidError } from '@openiothub/errors';
import type { Permission } from '@openiothub/auth';
import { deviceFromJson, deviceToJson, moduleFromJson, moduleToJson, registryV1 } from '@openiothub/proto';
import type { ServiceAuthorizer } from '../../auth/service-auth.js';
import type { RegistryClient } from '../../upstream/registry-client.js';
import { parseJson, readBody } from '../body.js';
import { ifMatchOf as ifMatch, type Handler, type RequestContext, type Router } from '../router.js';


const quoted = (etag: string) => `"${etag}"`;

/** Service REST API for identities (spec/sdk-compat.md §8.1): devices, modules, bulk, statistics. */
export function registerRegistryRoutes(
  router: Router,
  deps: {
    registry: RegistryClient;
    auth: ServiceAuthorizer;
    maxBodyBytes: number;
    /** Messages waiting in an identity's C2D queue (the messaging service owns the count); undefined when unknown. */
    c2dCount: (hub: string, deviceId: string, moduleId: string) => Promise<number | undefined>;
  },
): void {
  const { registry, auth } = deps;
  const guarded = (permission: Permission, fn: Handler): Handler => async (ctx) => {
    await auth.authorizeRequest(ctx, permission);
    return fn(ctx);
  };
  const json = async (ctx: RequestContext) => parseJson(await readBody(ctx.req, deps.maxBodyBytes));
  const p = (ctx: RequestContext, name: string) => ctx.params[name] as string;

  const listDevices: Handler = async (ctx) => {
    const topRaw = ctx.query.get('top');
    const top = topRaw === null ? 0 : Number(topRaw);
    if (topRaw !== null && (!/^\d+$/.test(topRaw) || top < 1 || top > 1000)) throw new ArgumentInvalidError('top must be between 1 and 1000.');
    const { devices } = await registry.listDevices({ hub: ctx.hub, top, afterDeviceId: '' });
    return { status: 200, body: devices.map(deviceToJson) };
  };

  router
    .on('GET', '/devices', guarded('RegistryRead', listDevices))
    .on(
      'POST',
      '/devices',
      guarded('RegistryWrite', async (ctx) => {
        const body = await json(ctx);
        if (!Array.isArray(body)) throw new ArgumentInvalidError('A bulk operation body is a JSON array of devices.');
        const operations = body.map((item: unknown) => {
          const device = deviceFromJson(item, undefined, 'id');
          const o = item as Record<string, unknown>;
          const mode = o['importMode'];
          if (typeof mode !== 'string') throw new ArgumentInvalidError(`importMode is required for device "${device.deviceId}".`);
          const etag = typeof o['eTag'] === 'string' ? o['eTag'] : typeof o['etag'] === 'string' ? o['etag'] : '';
          return registryV1.BulkDeviceOperation.fromPartial({ device, importMode: mode, etag });
        });
        const result = await registry.bulkDevices({ hub: ctx.hub, operations });
        return {
          status: 200,
          body: {
            isSuccessful: result.isSuccessful,
            errors: result.errors.map((e) => ({ deviceId: e.deviceId, errorCode: e.errorCode, errorStatus: e.errorStatus })),
            warnings: [],
          },
        };
      }),
    )
    .on(
      'GET',
      '/devices/:deviceId',
      guarded('RegistryRead', async (ctx) => {
        const [{ device }, count] = await Promise.all([registry.getDevice({ hub: ctx.hub, deviceId: p(ctx, 'deviceId') }), deps.c2dCount(ctx.hub, p(ctx, 'deviceId'), '')]);
        const d = count === undefined ? device! : { ...device!, cloudToDeviceMessageCount: count };
        return { status: 200, body: deviceToJson(d), headers: { etag: quoted(d.etag) } };
      }),
    )
    .on(
      'PUT',
      '/devices/:deviceId',
      guarded('RegistryWrite', async (ctx) => {
        const device = deviceFromJson(await json(ctx), p(ctx, 'deviceId'));
        const res = await registry.putDevice({ hub: ctx.hub, device, ifMatch: ifMatch(ctx) });
        return { status: 200, body: deviceToJson(res.device!), headers: { etag: quoted(res.device!.etag) } };
      }),
    )
    .on(
      'DELETE',
      '/devices/:deviceId',
      guarded('RegistryWrite', async (ctx) => {
        await registry.deleteDevice({ hub: ctx.hub, deviceId: p(ctx, 'deviceId'), ifMatch: ifMatch(ctx) });
        return { status: 204 };
      }),
    )
    .on(
      'GET',
      '/devices/:deviceId/modules',
      guarded('RegistryRead', async (ctx) => {
        const { modules } = await registry.listModules({ hub: ctx.hub, deviceId: p(ctx, 'deviceId') });
        return { status: 200, body: modules.map(moduleToJson) };
      }),
    )
    .on(
      'GET',
      '/devices/:deviceId/modules/:moduleId',
      guarded('RegistryRead', async (ctx) => {
        const [{ module }, count] = await Promise.all([
          registry.getModule({ hub: ctx.hub, deviceId: p(ctx, 'deviceId'), moduleId: p(ctx, 'moduleId') }),
          deps.c2dCount(ctx.hub, p(ctx, 'deviceId'), p(ctx, 'moduleId')),
        ]);
        const m = count === undefined ? module! : { ...module!, cloudToDeviceMessageCount: count };
        return { status: 200, body: moduleToJson(m), headers: { etag: quoted(m.etag) } };
      }),
    )
    .on(
      'PUT',
      '/devices/:deviceId/modules/:moduleId',
      guarded('RegistryWrite', async (ctx) => {
        const module = moduleFromJson(await json(ctx), p(ctx, 'deviceId'), p(ctx, 'moduleId'));
        const res = await registry.putModule({ hub: ctx.hub, module, ifMatch: ifMatch(ctx) });
        return { status: 200, body: moduleToJson(res.module!), headers: { etag: quoted(res.module!.etag) } };
      }),
    )
    .on(
      'DELETE',
      '/devices/:deviceId/modules/:moduleId',
      guarded('RegistryWrite', async (ctx) => {
        await registry.deleteModule({ hub: ctx.hub, deviceId: p(ctx, 'deviceId'), moduleId: p(ctx, 'moduleId'), ifMatch: ifMatch(ctx) });
        return { status: 204 };
      }),
    )
    .on(
      'GET',
      '/statistics/devices',
      guarded('RegistryRead', async (ctx) => {
        const s = await registry.getStatistics({ hub: ctx.hub });
        return { status: 200, body: { totalDeviceCount: s.totalDeviceCount, enabledDeviceCount: s.enabledDeviceCount, disabledDeviceCount: s.disabledDeviceCount } };
      }),
    );
}
