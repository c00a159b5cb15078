import { ArgumentInvalidError, DomainError } from '@openiothub/errors';
import type { BulkJobStore } from '../store/bulk-store.js';
import type { JobStore } from '../store/job-store.js';
import { bulkJobJson, parseBulkJob } from './bulk-job.js';
import { jobJson, jobStatusOf, jobTypeOf, parseNewJob, type JobRecord } from './job.js';

const notFound = (jobId: string) => new DomainError('JobNotFound', `Job ${jobId} was not found.`);

/** Job use cases behind the REST API: create, read, cancel, list. Running them is the runner's work. */
export class JobsService {
  constructor(
    private readonly store: JobStore,
    private readonly bulk: BulkJobStore,
    private readonly opts: { maxConcurrentPerHub: number; now?: () => Date },
  ) {}

  // ---- import/export (v1 jobs) ----

  async createBulk(hub: string, json: string): Promise<Record<string, unknown>> {
    let body: unknown;
    try {
      body = JSON.parse(json) as unknown;
    } catch (err) {
      throw new ArgumentInvalidError(`The job is not valid JSON: ${(err as Error).message}`);
    }
    return bulkJobJson(await this.bulk.create(hub, parseBulkJob(body)));
  }

  async getBulk(hub: string, jobId: string): Promise<Record<string, unknown>> {
    const job = await this.bulk.get(hub, jobId);
    if (!job) throw notFound(jobId);
    return bulkJobJson(job);
  }

  async listBulk(hub: string): Promise<Record<string, unknown>[]> {
    return (await this.bulk.list(hub)).map(bulkJobJson);
  }

  async cancelBulk(hub: string, jobId: string): Promise<Record<string, unknown>> {
    if (!(await this.bulk.cancel(hub, jobId))) throw notFound(jobId);
    return this.getBulk(hub, jobId);
  }

  async create(hub: string, jobId: string, jobJsonText: string): Promise<Record<string, unknown>> {
    let body: unknown;
    try {
      body = JSON.parse(jobJsonText) as unknown;
    } catch (err) {
      throw new ArgumentInvalidError(`The job is not valid JSON: ${(err as Error).message}`);
    }
    const now = this.opts.now?.() ?? new Date();
    const job = parseNewJob(jobId, body, now);
    await this.store.create(hub, job, this.opts.maxConcurrentPerHub, now);
    return this.get(hub, jobId);
  }

  async get(hub: string, jobId: string): Promise<Record<string, unknown>> {
    const job = await this.store.get(hub, jobId);
    if (!job) throw notFound(jobId);
    return jobJson(job);
  }

  async cancel(hub: string, jobId: string): Promise<Record<string, unknown>> {
    if (!(await this.store.cancel(hub, jobId))) throw notFound(jobId);
    return this.get(hub, jobId);
  }

  /** `GET /jobs/v2/query`: newest first, filtered by type and status, paged by an opaque token. */
  async list(hub: string, q: { jobType: string; jobStatus: string; pageSize: number; continuation: string }): Promise<{ items: unknown[]; continuation?: string }> {
    const type = q.jobType ? jobTypeOf(q.jobType) : undefined;
    if (q.jobType && !type) throw new ArgumentInvalidError(`Unknown jobType ${q.jobType}: use scheduleDeviceMethod or scheduleUpdateTwin.`);
    const status = q.jobStatus ? jobStatusOf(q.jobStatus) : undefined;
    if (q.jobStatus && !status) throw new ArgumentInvalidError(`Unknown jobStatus ${q.jobStatus}.`);
    const size = q.pageSize > 0 ? Math.min(q.pageSize, 100) : 100;
    const after = q.continuation ? decodeAfter(q.continuation) : undefined;
    const jobs = await this.store.list(hub, { ...(type ? { type } : {}), ...(status ? { status } : {}) }, size + 1, after);
    const page = jobs.slice(0, size);
    const last: JobRecord | undefined = page[page.length - 1];
    const more = jobs.length > size && last !== undefined;
    return { items: page.map(jobJson), ...(more ? { continuation: Buffer.from(JSON.stringify({ t: last.createdTime.toISOString(), id: last.jobId })).toString('base64url') } : {}) };
  }
}

function decodeAfter(token: string): { t: string; id: string } {
  try {
    const c = JSON.parse(Buffer.from(token, 'base64url').toString()) as { t?: unknown; id?: unknown };
    if (typeof c.t === 'string' && !Number.isNaN(Date.parse(c.t)) && typeof c.id === 'string') return { t: c.t, id: c.id };
  } catch {
    // fall through
  }
  throw new ArgumentInvalidError('The continuation token is not valid.');
}
