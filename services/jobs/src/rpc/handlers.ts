import { ArgumentInvalidError } from '@openiothub/errors';
import type { Pool } from '@openiothub/postgres';
import { type jobsV1, unaryHandler } from '@openiothub/proto';
import { queryDeviceJobs } from '../domain/device-job-query.js';
import type { JobsService } from '../domain/jobs-service.js';

function required(v: string, name: string): string {
  if (!v) throw new ArgumentInvalidError(`${name} is required.`);
  return v;
}

/** The gRPC JobsService implementation: translate, call the domain, translate back. */
export function jobsHandlers(svc: JobsService, pool: Pool): jobsV1.JobsServiceServer {
  return {
    createJob: unaryHandler(async (req) => ({ jobJson: JSON.stringify(await svc.create(required(req.hub, 'hub'), required(req.jobId, 'jobId'), req.jobJson)) })),
    getJob: unaryHandler(async (req) => ({ jobJson: JSON.stringify(await svc.get(required(req.hub, 'hub'), required(req.jobId, 'jobId'))) })),
    cancelJob: unaryHandler(async (req) => ({ jobJson: JSON.stringify(await svc.cancel(required(req.hub, 'hub'), required(req.jobId, 'jobId'))) })),
    queryJobs: unaryHandler(async (req) => {
      const page = await svc.list(required(req.hub, 'hub'), req);
      return { itemsJson: JSON.stringify(page.items), continuation: page.continuation, itemType: 'JobResponse' };
    }),
    createBulkJob: unaryHandler(async (req) => ({ jobJson: JSON.stringify(await svc.createBulk(required(req.hub, 'hub'), req.jobJson)) })),
    getBulkJob: unaryHandler(async (req) => ({ jobJson: JSON.stringify(await svc.getBulk(required(req.hub, 'hub'), required(req.jobId, 'jobId'))) })),
    listBulkJobs: unaryHandler(async (req) => ({ itemsJson: JSON.stringify(await svc.listBulk(required(req.hub, 'hub'))) })),
    cancelBulkJob: unaryHandler(async (req) => ({ jobJson: JSON.stringify(await svc.cancelBulk(required(req.hub, 'hub'), required(req.jobId, 'jobId'))) })),
    queryDeviceJobs: unaryHandler(async (req) => {
      const page = await queryDeviceJobs(pool, required(req.hub, 'hub'), req.query, req.pageSize, req.continuation);
      return { itemsJson: JSON.stringify(page.items), continuation: page.continuation, itemType: 'DeviceJob' };
    }),
  };
}
