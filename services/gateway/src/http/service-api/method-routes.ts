import { invokeMethod, parseInvocation, type LocalDeviceRequester, type NatsConnection } from '@openiothub/bus';
import type { ServiceAuthorizer } from '../../auth/service-auth.js';
import { parseJson, readBody } from '../body.js';
import type { Handler, RequestContext, Router } from '../router.js';

/** Direct methods: `POST /twins/{id}/methods` and `/twins/{id}/modules/{mid}/methods` (ServiceConnect). */
export function registerMethodRoutes(router: Router, deps: { nc: NatsConnection; local: LocalDeviceRequester; auth: ServiceAuthorizer; maxBodyBytes: number }): void {
  const invoke =
    (withModule: boolean): Handler =>
    async (ctx: RequestContext) => {
      await deps.auth.authorizeRequest(ctx, 'ServiceConnect');
      const inv = parseInvocation(parseJson(await readBody(ctx.req, deps.maxBodyBytes)));
      const result = await invokeMethod(deps.nc, { hub: ctx.hub, deviceId: ctx.params['deviceId'] as string, moduleId: withModule ? ctx.params['moduleId'] : undefined }, inv, deps.local);
      return { status: 200, body: { status: result.status, payload: result.payload } };
    };
  router.on('POST', '/twins/:deviceId/methods', invoke(false)).on('POST', '/twins/:deviceId/modules/:moduleId/methods', invoke(true));
}
