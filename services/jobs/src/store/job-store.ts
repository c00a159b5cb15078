import { DomainError } from '@openiothub/errors';
import { withTransaction, type Pool } from '@openiothub/postgres';
import type { DeviceOperation, JobRecord, JobStatistics, JobStatus, JobType, NewJob } from '../domain/job.js';

/** A device operation a process has claimed; `attempt` fences its result. */
export interface ClaimedDeviceJob {
  readonly hub: string;
  readonly jobId: string;
  readonly deviceId: string;
  readonly attempt: number;
  readonly operation: DeviceOperation;
}

export type DeviceJobResult =
  | { readonly status: 'completed'; readonly outcome: unknown }
  | { readonly status: 'failed'; readonly error: { code: string; description: string } };

type Row = Record<string, unknown>;

const ACTIVE: readonly JobStatus[] = ['queued', 'scheduled', 'running'];


/** Jobs in Postgres (schema `jobs`). Every method is one short statement or transaction; no state lives in the process. */
export class JobStore {
  /**
   * `hubs`: the hubs whose jobs this process runs (claims, sweeps); undefined for every hub. Reads
   * and writes through the REST API are never scoped.
   */
  constructor(
    private readonly pool: Pool,
    private readonly hubs?: readonly string[],
    /** Grace beyond a device operation's own timeouts before its lease lapses and another process may retry it. */
    private readonly leaseGraceSeconds = 30,
  ) {}

  /** `AND hub = ANY($n)` when scoped. */
  #scope(params: unknown[], column = 'hub'): string {
    if (!this.hubs) return '';
    params.push(this.hubs);
    return ` AND ${column} = ANY($${params.length}::text[])`;
  }

  /** Stores a new job; 409 when the id is taken, 429 when the hub already has its limit of active jobs. */
  async create(hub: string, job: NewJob, maxConcurrent: number, now: Date): Promise<void> {
    await withTransaction(this.pool, async (c) => {
      // one creator at a time per hub, so two racing creates cannot both pass the limit
      await c.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 7))', [`jobs:${hub}`]);
      const { rows } = await c.query<{ n: string }>('SELECT count(*) AS n FROM jobs.jobs WHERE hub = $1 AND status = ANY($2::text[])', [hub, ACTIVE]);
      if (Number(rows[0]!.n) >= maxConcurrent) {
        throw new DomainError('ThrottlingException', `The hub already has ${maxConcurrent} active jobs, its limit; wait for one to finish or cancel one.`);
      }
      const status: JobStatus = job.startTime.getTime() > now.getTime() ? 'scheduled' : 'queued';
      const res = await c.query(
        `INSERT INTO jobs.jobs (hub, job_id, type, status, query_condition, spec, created_time, start_time, max_execution_seconds)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
        [hub, job.jobId, job.type, status, job.queryCondition, JSON.stringify(job.operation), now, job.startTime, job.maxExecutionTimeInSeconds],
      );
      if (res.rowCount === 0) throw new DomainError('EntityAlreadyExists', `A job with id ${job.jobId} already exists.`);
    });
  }

  async get(hub: string, jobId: string): Promise<JobRecord | undefined> {
    const { rows } = await this.pool.query<Row>('SELECT * FROM jobs.jobs WHERE hub = $1 AND job_id = $2', [hub, jobId]);
    return rows[0] ? this.#record(rows[0], await this.#statistics(hub, [jobId])) : undefined;
  }

  /** Cancels an active job: devices not yet reached are marked cancelled; operations in flight finish. Finished jobs stay as they are. */
  async cancel(hub: string, jobId: string): Promise<boolean> {
    return withTransaction(this.pool, async (c) => {
      const job = await c.query<Row>('SELECT status FROM jobs.jobs WHERE hub = $1 AND job_id = $2 FOR UPDATE', [hub, jobId]);
      if (job.rows.length === 0) return false;
      if (!ACTIVE.includes(job.rows[0]!['status'] as JobStatus)) return true;
      await c.query("UPDATE jobs.jobs SET status = 'cancelled', end_time = now() WHERE hub = $1 AND job_id = $2", [hub, jobId]);
      await c.query("UPDATE jobs.device_jobs SET status = 'cancelled', end_time = now(), updated_at = now() WHERE hub = $1 AND job_id = $2 AND status = 'pending'", [hub, jobId]);
      return true;
    });
  }

  /** A page of a hub's jobs, newest first, after the cursor (created time, job id). */
  async list(hub: string, filter: { type?: JobType; status?: JobStatus }, limit: number, after?: { t: string; id: string }): Promise<JobRecord[]> {
    const where = ['hub = $1'];
    const params: unknown[] = [hub];
    if (filter.type) where.push(`type = $${params.push(filter.type)}`);
    if (filter.status) where.push(`status = $${params.push(filter.status)}`);
    if (after) where.push(`(created_time, job_id) < ($${params.push(after.t)}::timestamptz, $${params.push(after.id)})`);
    const { rows } = await this.pool.query<Row>(`SELECT * FROM jobs.jobs WHERE ${where.join(' AND ')} ORDER BY created_time DESC, job_id DESC LIMIT ${limit}`, params);
    const stats = await this.#statistics(hub, rows.map((r) => r['job_id'] as string));
    return rows.map((r) => this.#record(r, stats));
  }

  /**
   * Takes one job whose start time has come (or whose device listing a dead process left
   * unfinished) and marks it running under an expansion lease. Undefined when there is none.
   */
  async claimStart(leaseMs: number): Promise<{ hub: string; jobId: string; queryCondition: string } | undefined> {
    const params: unknown[] = [leaseMs];
    const scope = this.#scope(params);
    const { rows } = await this.pool.query<Row>(
      `UPDATE jobs.jobs j SET status = 'running', expand_lease_until = now() + make_interval(secs => $1::double precision / 1000)
       FROM (SELECT hub, job_id FROM jobs.jobs
             WHERE ((status IN ('queued', 'scheduled') AND start_time <= now())
                OR (status = 'running' AND NOT expanded AND expand_lease_until < now()))${scope}
             ORDER BY start_time LIMIT 1 FOR UPDATE SKIP LOCKED) c
       WHERE j.hub = c.hub AND j.job_id = c.job_id
       RETURNING j.hub, j.job_id, j.query_condition`,
      params,
    );
    const r = rows[0];
    return r ? { hub: r['hub'] as string, jobId: r['job_id'] as string, queryCondition: r['query_condition'] as string } : undefined;
  }

  /** Adds target devices to a running job (idempotent) and renews the expansion lease; false once the job is no longer running. */
  async addDevices(hub: string, jobId: string, deviceIds: readonly string[], leaseMs: number): Promise<boolean> {
    return withTransaction(this.pool, async (c) => {
      const live = await c.query(
        `UPDATE jobs.jobs SET expand_lease_until = now() + make_interval(secs => $3::double precision / 1000)
         WHERE hub = $1 AND job_id = $2 AND status = 'running' RETURNING 1`,
        [hub, jobId, leaseMs],
      );
      if (live.rowCount === 0) return false;
      if (deviceIds.length > 0) {
        await c.query(
          `INSERT INTO jobs.device_jobs (hub, job_id, device_id, status) SELECT $1, $2, unnest($3::text[]), 'pending' ON CONFLICT DO NOTHING`,
          [hub, jobId, deviceIds],
        );
      }
      return true;
    });
  }

  async finishExpansion(hub: string, jobId: string): Promise<void> {
    await this.pool.query("UPDATE jobs.jobs SET expanded = true, expand_lease_until = NULL WHERE hub = $1 AND job_id = $2 AND status = 'running'", [hub, jobId]);
  }

  /** Hubs with running jobs, for the claimer to visit in turn. */
  async runningHubs(): Promise<string[]> {
    const params: unknown[] = [];
    const { rows } = await this.pool.query<{ hub: string }>(`SELECT DISTINCT hub FROM jobs.jobs WHERE status = 'running'${this.#scope(params)}`, params);
    return rows.map((r) => r.hub);
  }

  /**
   * Claims up to `max` device operations of a hub's running jobs, as many as the hub's token
   * bucket (shared by every jobs process) allows; `ratePerSecond` 0 means no limit.
   */
  async claimDevices(hub: string, max: number, ratePerSecond: number): Promise<ClaimedDeviceJob[]> {
    return withTransaction(this.pool, async (c) => {
      let allowed = max;
      if (ratePerSecond > 0) {
        // the bucket holds at most one second of operations
        const bucket = await c.query<{ tokens: number }>(
          `INSERT INTO jobs.hub_rate AS r (hub, tokens, updated) VALUES ($1, $2, now())
           ON CONFLICT (hub) DO UPDATE SET tokens = LEAST($2, r.tokens + EXTRACT(EPOCH FROM now() - r.updated) * $2), updated = now()
           RETURNING tokens`,
          [hub, ratePerSecond],
        );
        allowed = Math.min(max, Math.floor(bucket.rows[0]!.tokens));
      }
      if (allowed < 1) return [];
      const { rows } = await c.query<Row>(
        `WITH c AS (
           SELECT dj.hub, dj.job_id, dj.device_id FROM jobs.device_jobs dj
           JOIN jobs.jobs j ON j.hub = dj.hub AND j.job_id = dj.job_id AND j.status = 'running'
           WHERE dj.hub = $1 AND (dj.status = 'pending' OR (dj.status = 'running' AND dj.lease_until < now()))
           ORDER BY j.start_time, dj.job_id, dj.device_id
           LIMIT $2 FOR UPDATE OF dj SKIP LOCKED)
         UPDATE jobs.device_jobs d SET status = 'running', attempt = d.attempt + 1, start_time = COALESCE(d.start_time, now()), updated_at = now(),
           lease_until = now() + make_interval(secs => $3 + COALESCE((j.spec #>> '{cloudToDeviceMethod,responseTimeoutInSeconds}')::int + (j.spec #>> '{cloudToDeviceMethod,connectTimeoutInSeconds}')::int, 0))
         FROM c, jobs.jobs j
         WHERE d.hub = c.hub AND d.job_id = c.job_id AND d.device_id = c.device_id AND j.hub = d.hub AND j.job_id = d.job_id
         RETURNING d.job_id, d.device_id, d.attempt, j.spec`,
        [hub, allowed, this.leaseGraceSeconds],
      );
      if (ratePerSecond > 0 && rows.length > 0) await c.query('UPDATE jobs.hub_rate SET tokens = tokens - $2 WHERE hub = $1', [hub, rows.length]);
      return rows.map((r) => ({ hub, jobId: r['job_id'] as string, deviceId: r['device_id'] as string, attempt: Number(r['attempt']), operation: r['spec'] as DeviceOperation }));
    });
  }

  /**
   * Records device operations' results in one statement, each unless its claim was superseded
   * (lease lapsed and retried, job cancelled or timed out). Resolves how many were recorded.
   */
  async recordMany(results: ReadonlyArray<{ claim: ClaimedDeviceJob; result: DeviceJobResult }>): Promise<number> {
    if (results.length === 0) return 0;
    const col = <T>(f: (r: { claim: ClaimedDeviceJob; result: DeviceJobResult }) => T) => results.map(f);
    const res = await this.pool.query({
      name: 'jobs-record-batch',
      text: `UPDATE jobs.device_jobs d SET status = v.status, outcome = v.outcome, error = v.error, end_time = now(), updated_at = now(), lease_until = NULL
             FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::jsonb[], $7::jsonb[]) AS v(hub, job_id, device_id, attempt, status, outcome, error)
             WHERE d.hub = v.hub AND d.job_id = v.job_id AND d.device_id = v.device_id AND d.attempt = v.attempt AND d.status = 'running'`,
      values: [
        col((r) => r.claim.hub),
        col((r) => r.claim.jobId),
        col((r) => r.claim.deviceId),
        col((r) => r.claim.attempt),
        col((r) => r.result.status),
        col((r) => (r.result.status === 'completed' ? JSON.stringify(r.result.outcome) : null)),
        col((r) => (r.result.status === 'failed' ? JSON.stringify(r.result.error) : null)),
      ],
    });
    return res.rowCount ?? 0;
  }

  /**
   * Housekeeping, safe from any number of processes: fails jobs past their maximum execution time
   * (their unfinished devices fail with JobTimedOut), completes running jobs with nothing left to
   * do, and forgets finished jobs older than the history window. Returns the hub of each job it
   * completed or failed.
   */
  async sweep(historyDays: number): Promise<{ completed: string[]; timedOut: string[] }> {
    const timedOut = await withTransaction(this.pool, async (c) => {
      const params: unknown[] = [];
      const { rows } = await c.query<Row>(
        `UPDATE jobs.jobs SET status = 'failed', end_time = now(),
           failure_reason = 'The job did not finish within maxExecutionTimeInSeconds (' || max_execution_seconds || ' s).'
         WHERE status = 'running' AND start_time + make_interval(secs => max_execution_seconds) < now()${this.#scope(params)}
         RETURNING hub, job_id`,
        params,
      );
      for (const r of rows) {
        await c.query(
          `UPDATE jobs.device_jobs SET status = 'failed', end_time = now(), updated_at = now(), lease_until = NULL,
             error = '{"code":"JobTimedOut","description":"The job reached its maximum execution time before this device was done."}'
           WHERE hub = $1 AND job_id = $2 AND status IN ('pending', 'running')`,
          [r['hub'], r['job_id']],
        );
      }
      return rows.map((r) => String(r['hub']));
    });
    const completeParams: unknown[] = [];
    const completed = await this.pool.query<{ hub: string }>(
      `UPDATE jobs.jobs j SET status = 'completed', end_time = now()
       WHERE status = 'running' AND expanded${this.#scope(completeParams, 'j.hub')}
         AND NOT EXISTS (SELECT 1 FROM jobs.device_jobs d WHERE d.hub = j.hub AND d.job_id = j.job_id AND d.status IN ('pending', 'running'))
       RETURNING j.hub`,
      completeParams,
    );
    const historyParams: unknown[] = [historyDays * 86400];
    await this.pool.query(
      `DELETE FROM jobs.jobs WHERE status IN ('completed', 'failed', 'cancelled') AND end_time < now() - make_interval(secs => $1)${this.#scope(historyParams)}`,
      historyParams,
    );
    return { completed: completed.rows.map((r) => r.hub), timedOut };
  }

  async #statistics(hub: string, jobIds: readonly string[]): Promise<Map<string, JobStatistics>> {
    const out = new Map<string, JobStatistics>();
    for (const id of jobIds) out.set(id, { deviceCount: 0, failedCount: 0, succeededCount: 0, runningCount: 0, pendingCount: 0 });
    if (jobIds.length === 0) return out;
    const { rows } = await this.pool.query<{ job_id: string; status: string; n: string }>(
      'SELECT job_id, status, count(*) AS n FROM jobs.device_jobs WHERE hub = $1 AND job_id = ANY($2::text[]) GROUP BY job_id, status',
      [hub, jobIds],
    );
    for (const r of rows) {
      const s = out.get(r.job_id)!;
      const n = Number(r.n);
      s.deviceCount += n;
      if (r.status === 'completed') s.succeededCount += n;
      else if (r.status === 'failed') s.failedCount += n;
      else if (r.status === 'running') s.runningCount += n;
      else if (r.status === 'pending') s.pendingCount += n;
    }
    return out;
  }

  #record(r: Row, stats: Map<string, JobStatistics>): JobRecord {
    const jobId = r['job_id'] as string;
    return {
      jobId,
      type: r['type'] as JobType,
      status: r['status'] as JobStatus,
      queryCondition: r['query_condition'] as string,
      operation: r['spec'] as DeviceOperation,
      createdTime: r['created_time'] as Date,
      startTime: r['start_time'] as Date,
      endTime: (r['end_time'] as Date | null) ?? null,
      maxExecutionTimeInSeconds: Number(r['max_execution_seconds']),
      failureReason: (r['failure_reason'] as string | null) ?? null,
      statusMessage: (r['status_message'] as string | null) ?? null,
      statistics: stats.get(jobId)!,
    };
  }
}
