import { ArgumentInvalidError } from '@openiothub/errors';
import type { Permission } from '@openiothub/auth';
import type { ServiceAuthorizer } from '../../auth/service-auth.js';
import type { RegistryClient } from '../../upstream/registry-client.js';
import { parseJson, readBody } from '../body.js';
import { ifMatchOf as ifMatch, type Handler, type RequestContext, type Router } from '../router.js';

/**
 * A hub's CA certificates (protocols-ops §3.2), in the shape of ARM's `IotHubs/certificates`:
 * `PUT /certificates/{name}` `{properties: {certificate, isVerified?}}`, `GET /certificates[/{name}]`,
 * `DELETE`, `POST /certificates/{name}/generateVerificationCode`, `POST /certificates/{name}/verify`
 * `{certificate}` (proof of possession). Reading needs RegistryRead, the rest RegistryWrite.
 */
export function registerCertificateRoutes(router: Router, deps: { registry: RegistryClient; auth: ServiceAuthorizer; maxBodyBytes: number }): void {
  const { registry } = deps;
  const guarded =
    (permission: Permission, fn: Handler): Handler =>
    async (ctx) => {
      await deps.auth.authorizeRequest(ctx, permission);
      return fn(ctx);
    };
  const name = (ctx: RequestContext) => ctx.params['name'] as string;
  const reply = (r: { json: string }) => ({ status: 200, body: JSON.parse(r.json) as unknown });
  const certificateOf = async (ctx: RequestContext, nested: boolean) => {
    const b = parseJson(await readBody(ctx.req, deps.maxBodyBytes)) as Record<string, unknown> | null;
    const holder = nested ? ((b?.['properties'] as Record<string, unknown> | undefined) ?? b) : b;
    const certificate = holder?.['certificate'];
    if (typeof certificate !== 'string' || certificate.trim() === '') {
      throw new ArgumentInvalidError(nested ? 'The body must be {"properties": {"certificate": "<PEM>"}}.' : 'The body must be {"certificate": "<PEM>"}.');
    }
    return { certificate, isVerified: holder?.['isVerified'] === true };
  };

  router
    .on('GET', '/certificates', guarded('RegistryRead', async (ctx) => reply(await registry.listCertificates({ hub: ctx.hub }))))
    .on('GET', '/certificates/:name', guarded('RegistryRead', async (ctx) => reply(await registry.getCertificate({ hub: ctx.hub, name: name(ctx) }))))
    .on(
      'PUT',
      '/certificates/:name',
      guarded('RegistryWrite', async (ctx) => {
        const { certificate, isVerified } = await certificateOf(ctx, true);
        return reply(await registry.putCertificate({ hub: ctx.hub, name: name(ctx), certificate, isVerified, ifMatch: ifMatch(ctx) }));
      }),
    )
    .on(
      'DELETE',
      '/certificates/:name',
      guarded('RegistryWrite', async (ctx) => {
        await registry.deleteCertificate({ hub: ctx.hub, name: name(ctx), ifMatch: ifMatch(ctx) });
        return { status: 204 };
      }),
    )
    .on('POST', '/certificates/:name/generateVerificationCode', guarded('RegistryWrite', async (ctx) => reply(await registry.generateVerificationCode({ hub: ctx.hub, name: name(ctx), ifMatch: ifMatch(ctx) }))))
    .on(
      'POST',
      '/certificates/:name/verify',
      guarded('RegistryWrite', async (ctx) => {
        const { certificate } = await certificateOf(ctx, false);
        return reply(await registry.verifyCertificate({ hub: ctx.hub, name: name(ctx), certificate, ifMatch: ifMatch(ctx) }));
      }),
    );
}
