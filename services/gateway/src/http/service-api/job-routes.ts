import { ArgumentInvalidError } from '@openiothub/errors';
import type { jobsV1, PromiseClient } from '@openiothub/proto';
import type { ServiceAuthorizer } from '../../auth/service-auth.js';
import { readBody } from '../body.js';
import type { Handler, RequestContext, Router } from '../router.js';

export type JobsClient = PromiseClient<jobsV1.JobsServiceClient>;

/**
 * Jobs on the service REST API (devguide §14, sdk-compat §8.1 JobClient): `PUT /jobs/v2/{id}`,
 * `GET /jobs/v2/{id}`, `POST /jobs/v2/{id}/cancel`, `GET /jobs/v2/query?jobType&jobStatus` paged by
 * `x-ms-max-item-count` / `x-ms-continuation` (or `pageSize` / `continuationToken` in the query
 * string, as the REST docs write them). Scheduling and cancelling need ServiceConnect, reading
 * RegistryRead or ServiceConnect.
 */
export function registerJobRoutes(router: Router, deps: { jobs: JobsClient; auth: ServiceAuthorizer; maxBodyBytes: number }): void {
  const { jobs } = deps;
  const guarded =
    (write: boolean, fn: Handler): Handler =>
    async (ctx) => {
      await deps.auth.authorizeRequest(ctx, write ? 'ServiceConnect' : ['RegistryRead', 'ServiceConnect']);
      return fn(ctx);
    };
  const guardedRegistry =
    (write: boolean, fn: Handler): Handler =>
    async (ctx) => {
      await deps.auth.authorizeRequest(ctx, write ? 'RegistryWrite' : 'RegistryRead');
      return fn(ctx);
    };
  const id = (ctx: RequestContext) => ctx.params['jobId'] as string;
  const reply = (r: { jobJson: string }) => ({ status: 200, body: JSON.parse(r.jobJson) as unknown });

  router
    .on(
      'GET',
      '/jobs/v2/query',
      guarded(false, async (ctx) => {
        const sizeRaw = header(ctx.req.headers['x-ms-max-item-count']) ?? ctx.query.get('pageSize') ?? undefined;
        const pageSize = sizeRaw === undefined ? 0 : Number(sizeRaw);
        if (sizeRaw !== undefined && (!/^\d+$/.test(sizeRaw) || pageSize < 1)) throw new ArgumentInvalidError('The page size must be a positive integer.');
        const page = await jobs.queryJobs({
          hub: ctx.hub,
          jobType: ctx.query.get('jobType') ?? '',
          jobStatus: ctx.query.get('jobStatus') ?? '',
          pageSize,
          continuation: header(ctx.req.headers['x-ms-continuation']) ?? ctx.query.get('continuationToken') ?? '',
        });
        return { status: 200, body: JSON.parse(page.itemsJson) as unknown, headers: { 'x-ms-item-type': page.itemType, ...(page.continuation ? { 'x-ms-continuation': page.continuation } : {}) } };
      }),
    )
    .on(
      'PUT',
      '/jobs/v2/:jobId',
      guarded(true, async (ctx) => reply(await jobs.createJob({ hub: ctx.hub, jobId: id(ctx), jobJson: (await readBody(ctx.req, deps.maxBodyBytes)).toString('utf8') }))),
    )
    .on('GET', '/jobs/v2/:jobId', guarded(false, async (ctx) => reply(await jobs.getJob({ hub: ctx.hub, jobId: id(ctx) }))))
    .on('POST', '/jobs/v2/:jobId/cancel', guarded(true, async (ctx) => reply(await jobs.cancelJob({ hub: ctx.hub, jobId: id(ctx) }))))
    // import/export (v1 jobs, Registry.exportDevicesToBlob / importDevicesFromBlob / getJob / listJobs / cancelJob): RegistryWrite
    .on('POST', '/jobs/create', guardedRegistry(true, async (ctx) => reply(await jobs.createBulkJob({ hub: ctx.hub, jobJson: (await readBody(ctx.req, deps.maxBodyBytes)).toString('utf8') }))))
    .on('GET', '/jobs', guardedRegistry(false, async (ctx) => ({ status: 200, body: JSON.parse((await jobs.listBulkJobs({ hub: ctx.hub })).itemsJson) as unknown })))
    .on('GET', '/jobs/:jobId', guardedRegistry(false, async (ctx) => reply(await jobs.getBulkJob({ hub: ctx.hub, jobId: id(ctx) }))))
    .on('DELETE', '/jobs/:jobId', guardedRegistry(true, async (ctx) => reply(await jobs.cancelBulkJob({ hub: ctx.hub, jobId: id(ctx) }))));
}

const header = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
